// Runs a zoo web export in Node.js for `zoo verify`, `zoo bench` and the tests, through the bundle's own
// zoo-model.js and onnxruntime-web's WebAssembly backend: one JSON request per stdin line, one JSON reply
// per stdout line.
//
//   node node_runner.mjs NODE_MODULES WEB_FOLDER QUANTIZATION   (fp32, int8, or none: tokenize only)
//
// Requests: {"texts": [...]}, {"images": {"dims": [n, h, w, 4], "b64": RGBA bytes}}, {"series": [windows]} or
// {"rows": [{column: value}]} (through the bundle's preprocessing), {"tensors": {name: {"dtype", "dims", "b64"}}}
// (fed as they are), {"tokenize": [...]} (token ids only), {"encode_rows": [{column: value}]} (a table model's
// encoded features only), {"parse_table": "CSV or TSV text"} (its rows); "repeat": N runs it N times and reports
// each run's milliseconds.
// Replies: {"outputs": {name: {"dtype", "dims", "b64"}}, "ms": [...]}, {"ids": [[...]]}, {"features": [[...]]},
// {"rows": [{column: value}]} or {"error": "..."}.
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { pathToFileURL } from "node:url";

const [modules, folder, quantization = "fp32"] = process.argv.slice(2);
const ort = await import(pathToFileURL(path.join(modules, "onnxruntime-web", "dist", "ort.node.min.mjs")).href);
ort.env.wasm.numThreads = 1; // the browser's default without cross-origin isolation
const { encodeText, loadModel, parseTable, ZooModel } = await import(
  pathToFileURL(path.join(folder, "zoo-model.js")).href);

// `fetch` over the bundle's files: what a static file server would send a browser.
async function readFile(url) {
  const file = path.resolve(folder, url);
  if (!file.startsWith(path.resolve(folder) + path.sep)) return { ok: false, status: 403 }; // the bundle's files only
  try {
    const bytes = fs.readFileSync(file);
    return { ok: true, status: 200, json: async () => JSON.parse(bytes.toString("utf8")), arrayBuffer: async () => bytes };
  } catch {
    return { ok: false, status: 404 };
  }
}

const ARRAYS = { float32: Float32Array, int32: Int32Array, int64: BigInt64Array, uint8: Uint8Array };
const decode = (b64, Type) => {
  const bytes = Buffer.from(b64, "base64");
  return new Type(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};
const encode = (tensor) => ({
  dtype: tensor.type, dims: tensor.dims,
  b64: Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength).toString("base64"),
});

function items(request, model) {
  if (request.texts) return request.texts;
  if (request.series) return request.series;
  if (request.rows) return request.rows;
  if (request.images) {
    const [n, h, w] = request.images.dims;
    const rgba = decode(request.images.b64, Uint8Array);
    return Array.from({ length: n }, (_, i) => ({ width: w, height: h, data: rgba.subarray(i * h * w * 4, (i + 1) * h * w * 4) }));
  }
  return Object.fromEntries(Object.entries(request.tensors).map(([name, t]) =>
    [name, new model.ort.Tensor(t.dtype, decode(t.b64, ARRAYS[t.dtype]), t.dims)]));
}

async function answer(request, model) {
  if (request.parse_table !== undefined) return { rows: parseTable(request.parse_table) };
  if (request.encode_rows) return { features: request.encode_rows.map((row) => Array.from(model.encodeRow(row))) };
  if (request.tokenize) return { ids: request.tokenize.map((text) => Array.from(encodeText(text, model.spec.text, model.index))) };
  const inputs = items(request, model);
  const ms = [];
  let outputs;
  for (let i = 0; i < (request.repeat ?? 1); i++) {
    const result = await model.run(inputs);
    outputs = result.outputs;
    ms.push(result.ms);
  }
  return { outputs: Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, encode(t)])), ms };
}

const fetchFile = (url) => readFile(url.replace(/^\.\//, ""));
let model;
if (quantization === "none") { // the preprocessing only (token ids): no ONNX file is loaded
  const spec = await (await fetchFile("model.json")).json();
  const vocabulary = spec.text ? await (await fetchFile(spec.text.vocabulary)).json() : null;
  model = new ZooModel({ ort, spec, session: null, vocabulary });
} else {
  model = await loadModel(".", { ort, quantization, fetch: fetchFile });
}
process.stdout.write(JSON.stringify({ ready: true }) + "\n");
for await (const line of readline.createInterface({ input: process.stdin })) {
  let reply;
  try {
    reply = await answer(JSON.parse(line), model);
  } catch (err) {
    reply = { error: String(err?.message ?? err) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
