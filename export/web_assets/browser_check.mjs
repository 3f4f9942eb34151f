// Opens a web bundle's index.html in headless Chromium (playwright-core driving the system's browser), feeds
// it an image file, a sentence, a series' last values or a table row as a user would, and prints what the page
// shows (one JSON line).
//
//   node browser_check.mjs CHROMIUM URL image|text|series|table|table-csv FILE|SENTENCE|VALUES|ROW_JSON|CSV PNG
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
else if (kind === "table-csv") { // pasted lines of a file: they fill the boxes
  await page.click("#table-ui summary");
  await page.fill("#csv", value);
  await page.click("#fill");
  await page.click("#predict");
}
else if (kind === "table") {
  for (const [column, cell] of Object.entries(JSON.parse(value))) {
    await page.fill(`#row input[data-column=${JSON.stringify(column)}]`, String(cell));
  }
  await page.click("#predict");
}
else { await page.fill("#text", value); await page.click("#run"); }
const regression = await page.evaluate(async () => (await (await fetch("model.json")).json()).task === "regression");
const shown = kind === "series" ? "data-forecast" : kind.startsWith("table") && regression ? "data-values"
  : "data-top-class";
await page.waitForSelector(`#result[${shown}], #error:not(:empty)`, { timeout: 60000 });
const top = await page.getAttribute("#result", shown);
const rows = await page.$$eval("#result tbody tr", (trs) => trs.map((tr) => tr.innerText));
await page.screenshot({ path: screenshot, fullPage: true });
console.log(JSON.stringify({ top, rows, errors, error: await page.textContent("#error") }));
await browser.close();
