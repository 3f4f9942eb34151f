// Opens a web bundle's index.html in headless Chromium (playwright-core driving the system's browser), feeds
// it an image file or a sentence as a user would, and prints what the page shows (one JSON line).
//
//   node browser_check.mjs CHROMIUM URL image|text|series FILE|SENTENCE|VALUES SCREENSHOT.png
//
// Run from the folder `zoo setup-web` installed (its node_modules holds playwright-core): `web.check_in_browser`.
import { chromium } from "playwright-core";
const [chromiumPath, url, kind, value, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
const page = await browser.newPage({ viewport: { width: 760, height: 640 } });
const errors = [];
page.on("pageerror", (e) => errors.push(String(e)));
await page.goto(url);
await page.waitForSelector("body[data-ready]", { timeout: 60000 });
if (kind === "image") await page.setInputFiles("#file", value);
else if (kind === "series") { await page.fill("#series", value); await page.click("#forecast"); }
else { await page.fill("#text", value); await page.click("#run"); }
const shown = kind === "series" ? "data-forecast" : "data-top-class";
await page.waitForSelector(`#result[${shown}], #error:not(:empty)`, { timeout: 60000 });
const top = await page.getAttribute("#result", shown);
const rows = await page.$$eval("#result tbody tr", (trs) => trs.map((tr) => tr.innerText));
await page.screenshot({ path: screenshot, fullPage: true });
console.log(JSON.stringify({ top, rows, errors, error: await page.textContent("#error") }));
await browser.close();
