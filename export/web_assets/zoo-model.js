// zoo-model.js: run a zoo web export (ONNX + model.json) with onnxruntime-web, in a browser or Node.js.
//
// The preprocessing is the training pipeline's, re-implemented here and tested against it:
// - text: zoo's standardization (ASCII lower-case, space-like characters to " ", Keras' punctuation
//   removed), whitespace split, vocabulary lookup (0 padding, 1 out-of-vocabulary), the sequence length
//   and truncation of training: the same token ids as Python's TextVectorization (`zoo verify` checks it);
// - images: decoded pixels (RGBA, e.g. a canvas' ImageData), resized like `tf.image.resize(antialias=True)`
//   (triangle kernel, float32 arithmetic, truncated to uint8) when the size differs, then rescaled;
// - table rows (`{column: value}`, values as a CSV file holds them): the training's encoder
//   (pipelines.tabular_encoder): numbers standardized with the training mean and variance, a missing
//   value imputed with the mean and flagged, categories one-hot (an unseen value: the out-of-vocabulary slot).
//
//   import * as ort from "./vendor/onnxruntime-web/ort.wasm.min.mjs";
//   import { loadModel } from "./zoo-model.js";
//   const model = await loadModel(".", { ort });
//   const { classes } = await model.classify("A moving, funny film.", { topK: 3 });

// Keras' `lower_and_strip_punctuation` characters (`,-.` is the range `,` `-` `.`).
const PUNCTUATION = /[!"#$%&()*+,\-./:;<=>?@[\\\]^_`{|}~']/g;
// Unicode separators, controls and format characters: zoo's SPACE_LIKE (pipelines/text.py).
const SPACE_LIKE = /[\p{Z}\p{Cc}\p{Cf}]+/gu;
const ASCII_UPPER = /[A-Z]+/g;

/** The text after the vectorizer's standardization (`standardize` is model.json's name of it). */
export function standardize(text, standardize = "zoo.standardize") {
  let out = String(text);
  if (standardize === null || standardize === undefined) return out;
  if (standardize.includes("lower") || standardize === "zoo.standardize") {
    out = out.replace(ASCII_UPPER, (s) => s.toLowerCase()); // tf.strings.lower: ASCII letters only
  }
  if (standardize === "zoo.standardize") out = out.replace(SPACE_LIKE, " ");
  if (standardize.includes("punctuation") || standardize === "zoo.standardize") out = out.replace(PUNCTUATION, "");
  return out;
}

/** Tokens of a standardized text: split on ASCII whitespace, empty pieces dropped (tf.strings.split). */
export function tokenize(text, spec) {
  return standardize(text, spec.standardize).split(/[ \t\n\v\f\r]+/).filter((t) => t.length > 0);
}

/** Token ids `(sequence_length,)` int32 of one text: ids of known tokens, `oov_id` for the others, the
 *  first (`truncate: "post"`) or last (`"pre"`) `sequence_length` of them, right-padded with `padding_id`. */
export function encodeText(text, spec, index) {
  const ids = tokenize(text, spec).map((t) => (index.has(t) ? index.get(t) : spec.oov_id));
  const length = spec.sequence_length ?? ids.length;
  const kept = spec.truncate === "pre" ? ids.slice(Math.max(0, ids.length - length)) : ids.slice(0, length);
  const out = new Int32Array(length).fill(spec.padding_id);
  out.set(kept);
  return out;
}

// tf.image.resize(antialias=True, method="bilinear") = ScaleAndTranslate with the triangle kernel: per
// output pixel a span of input pixels and normalized weights, all in float32 (Math.fround), rows first.
function spans(outSize, inSize) {
  const f = Math.fround;
  const scale = f(outSize / inSize);
  const invScale = f(1 / scale);
  const kernelScale = Math.max(invScale, 1);
  const oneOverKernelScale = f(1 / kernelScale);
  const radius = f(1 * kernelScale);
  const result = [];
  for (let x = 0; x < outSize; x++) {
    const sample = f(f(x + 0.5) * invScale);
    if (sample < 0 || sample > inSize) { result.push({ start: 0, weights: [] }); continue; }
    let start = Math.ceil(f(f(sample - radius) - 0.5));
    let end = Math.floor(f(f(sample + radius) - 0.5));
    start = Math.min(Math.max(start, 0), inSize - 1);
    end = Math.min(Math.max(end, 0), inSize - 1) + 1;
    const weights = [];
    let total = 0;
    for (let s = start; s < end; s++) {
      const pos = f(f(s + 0.5) - sample);
      const w = Math.max(0, f(1 - Math.abs(f(pos * oneOverKernelScale))));
      total = f(total + w);
      weights.push(w);
    }
    const inv = f(1 / total);
    result.push({ start, weights: Math.abs(total) >= 1e-35 ? weights.map((w) => f(w * inv)) : weights.map(() => 0) });
  }
  return result;
}

/** `(height, width, channels)` uint8 pixels resized as training did (float32 sums truncated to uint8). */
export function resizePixels(pixels, inH, inW, channels, outH, outW) {
  if (inH === outH && inW === outW) return pixels; // decode_image's path: no resize at the model's size
  const f = Math.fround;
  const rows = spans(outH, inH);
  const cols = spans(outW, inW);
  const mid = new Float32Array(outH * inW * channels); // (outH, inW, channels)
  for (let y = 0; y < outH; y++) {
    const { start, weights } = rows[y];
    const o = y * inW * channels;
    for (let j = 0; j < weights.length; j++) {
      const i = (start + j) * inW * channels;
      for (let k = 0; k < inW * channels; k++) mid[o + k] = f(mid[o + k] + f(weights[j] * pixels[i + k]));
    }
  }
  const out = new Uint8Array(outH * outW * channels);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const { start, weights } = cols[x];
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let j = 0; j < weights.length; j++) sum = f(sum + f(weights[j] * mid[(y * inW + start + j) * channels + c]));
        out[(y * outW + x) * channels + c] = Math.min(255, Math.max(0, Math.trunc(sum))); // tf.cast to uint8
      }
    }
  }
  return out;
}

/** `(height, width, channels)` uint8 pixels of RGBA data (ImageData): alpha dropped, or one grey
 *  channel (ITU-R BT.709 luma, libpng's rgb-to-grey weights; equal for grey images). */
export function fromRGBA(rgba, height, width, channels) {
  const out = new Uint8Array(height * width * channels);
  for (let p = 0; p < height * width; p++) {
    const [r, g, b] = [rgba[4 * p], rgba[4 * p + 1], rgba[4 * p + 2]];
    if (channels === 1) out[p] = Math.round(0.2126 * r + 0.7152 * g + 0.0722 * b);
    else for (let c = 0; c < channels; c++) out[p * channels + c] = [r, g, b][c];
  }
  return out;
}

/** The model's float32 input `(height*width*channels)` of an image: `{width, height, data}` (RGBA bytes,
 *  as a canvas' ImageData), resized to the model's size, scaled as in training. */
export function imageToInput(image, spec) {
  const { height, width, channels, scale, offset } = spec;
  const pixels = resizePixels(fromRGBA(image.data, image.height, image.width, channels), image.height,
    image.width, channels, height, width);
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = Math.fround(Math.fround(pixels[i] * scale) + offset);
  return out;
}

// What the training's reader counts as a number (pipelines/sources/tabular_file.py NUMBER).
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const ASCII_SPACE = /^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g; // tf.strings.strip

function cell(row, column) {
  const value = row[column];
  return value === null || value === undefined ? "" : value;
}

/** Stripped text, `""` for every spelling of a missing value (`table.missing`, compared in ASCII lower
 *  case as `tf.strings.lower` does). */
function withoutMissing(value, table) {
  const text = String(value).replace(ASCII_SPACE, "");
  const lower = text.replace(ASCII_UPPER, (s) => s.toLowerCase());
  return table.missing.includes(lower) ? "" : text;
}

/** A categorical cell as the training's encoder looks it up (runs recorded before missing values were
 *  read, `missing_categories: false`, took the text as it is). */
function categoryOf(value, table) {
  return table.missing_categories ? withoutMissing(value, table) : String(value);
}

/** A numeric cell as float32, NaN where missing; anything else is refused with the column named. */
function numberOf(value, column, table) {
  if (typeof value === "number") {
    if (Number.isNaN(value)) return NaN;
    if (!Number.isFinite(value)) throw new Error(`zoo-model.js: column ${JSON.stringify(column)} is ${value}: ` +
      "give a finite number, or leave it empty for a missing value");
    return Math.fround(value);
  }
  const text = withoutMissing(value, table);
  if (text === "") return NaN;
  const number = NUMBER.test(text) ? Math.fround(Number(text)) : NaN;
  if (!Number.isFinite(number)) {
    throw new Error(`zoo-model.js: column ${JSON.stringify(column)} holds ${JSON.stringify(String(value))}, not a ` +
      "finite number: give a number, or leave it empty for a missing value");
  }
  return number;
}

/** The records of comma-separated text as Python's `csv.reader` splits them (its default dialect): a field
 *  that starts with `"` is quoted (`""` inside is a quote; commas and line breaks are kept), a quote
 *  elsewhere is a character; blank lines are skipped. */
function csvRecords(text) {
  const records = [];
  let record = [], field = "", quoted = false, atStart = true;
  const end = () => { record.push(field); field = ""; atStart = true; };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch !== '"') field += ch;
      else if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false;
    } else if (ch === '"' && atStart) {
      quoted = true; atStart = false;
    } else if (ch === ",") {
      end();
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      end(); records.push(record); record = [];
    } else {
      field += ch; atStart = false;
    }
  }
  if (field.length || record.length) { end(); records.push(record); }
  return records.filter((r) => !(r.length === 1 && r[0] === ""));
}

/** Table rows `[{column: value}]` of pasted CSV or TSV text: a header line, then rows, split as the
 *  training's reader splits a file (tab-separated, without quoting, when the header line holds a tab;
 *  else comma-separated with CSV quoting). A short row's missing cells are empty. */
export function parseTable(text) {
  const source = String(text);
  const tsv = source.split(/\r?\n/)[0].includes("\t");
  const records = tsv ? source.split(/\r?\n/).filter((line) => line.length > 0).map((line) => line.split("\t"))
    : csvRecords(source);
  check(records.length >= 2, "paste the header line of the table, then at least one row");
  const [header, ...rows] = records;
  return rows.map((r) => Object.fromEntries(header.map((column, i) => [column, r[i] ?? ""])));
}

/** The encoded features `(encoded_size,)` float32 of one table row (`{column: value}`), as
 *  `pipelines.tabular_encoder` gives them: standardized numbers (a missing one: the training mean, i.e. 0),
 *  then a 0/1 missing flag per flagged numeric column, then each categorical column one-hot
 *  (slot 0: a value training never saw; slot i: vocabulary[i - 1]; a missing value is the category ""). */
export function encodeRow(row, table) {
  const f = Math.fround;
  const absent = table.columns.filter((c) => !(c in row));
  if (absent.length) {
    throw new Error(`zoo-model.js: the row lacks the training column(s) ${JSON.stringify(absent)}; a row is ` +
      `{column: value} with the columns ${JSON.stringify(table.columns)} (empty for a missing value)`);
  }
  const numbers = table.numeric.map((c) => numberOf(cell(row, c.name), c.name, table));
  const flagged = table.numeric.filter((c) => c.missing).length;
  const width = table.categorical.reduce((n, c) => n + c.vocabulary.length + 1, 0);
  const out = new Float32Array(table.numeric.length + flagged + width);
  let k = 0;
  table.numeric.forEach((c, i) => {
    const x = Number.isNaN(numbers[i]) ? f(c.mean) : numbers[i];
    out[k++] = f(f(x - f(c.mean)) / f(Math.max(f(Math.sqrt(f(c.variance))), f(table.epsilon))));
  });
  table.numeric.forEach((c, i) => { if (c.missing) out[k++] = Number.isNaN(numbers[i]) ? 1 : 0; });
  for (const c of table.categorical) {
    const slot = c.vocabulary.indexOf(categoryOf(cell(row, c.name), table));
    out[k + slot + 1] = 1; // slot -1 + 1: the out-of-vocabulary slot
    k += c.vocabulary.length + 1;
  }
  return out;
}

/** The top `k` classes of one probability vector: `[{index, label, probability}]`, best first. */
export function topK(probabilities, labels, k = 5) {
  return Array.from(probabilities, (p, index) => ({ index, label: labels?.[index] ?? String(index), probability: p }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, k);
}

function check(condition, message) {
  if (!condition) throw new Error(`zoo-model.js: ${message}`);
}

export class ZooModel {
  /** `spec`: model.json; `session`: an ort.InferenceSession; `vocabulary`: the tokens (text models). */
  constructor({ ort, spec, session, vocabulary = null }) {
    Object.assign(this, { ort, spec, session, labels: spec.labels ?? null });
    this.index = vocabulary ? new Map(vocabulary.map((t, i) => [t, i])) : null;
  }

  /** Token ids of a text (`Int32Array`), as the Python vectorizer gives them. */
  encodeText(text) {
    check(this.spec.text, `${this.spec.name} takes ${this.spec.inputs[0].name}, not text`);
    check(typeof text === "string" && text.trim().length > 0, "the text is empty: pass a sentence");
    return encodeText(text, this.spec.text, this.index);
  }

  /** Float32 pixels of an image (`{width, height, data}` RGBA), resized and scaled as in training. */
  encodeImage(image) {
    check(this.spec.image, `${this.spec.name} takes ${this.spec.inputs[0].name}, not an image`);
    check(image && image.width > 0 && image.height > 0 && image.data?.length === 4 * image.width * image.height,
      "an image is {width, height, data} with 4 bytes (RGBA) per pixel, e.g. a canvas' ImageData");
    return imageToInput(image, this.spec.image);
  }

  /** Float32 encoded features of a table row (`{column: value}`), encoded as in training. */
  encodeRow(row) {
    check(this.spec.table, `${this.spec.name} takes ${this.spec.inputs[0].name}, not table rows`);
    check(row !== null && typeof row === "object" && !Array.isArray(row),
      `a table row is {column: value} with the columns ${JSON.stringify(this.spec.table.columns)}`);
    return encodeRow(row, this.spec.table);
  }

  /** A forecaster's window: the last `width` values (rows of `features` values), in series units. */
  encodeSeries(values) {
    const { width, features } = this.spec.series;
    const flat = Array.from(values).flat().map(Number);
    check(flat.length === width * features, `a window is the last ${width} values` +
      (features > 1 ? ` of ${features} columns` : "") + `; got ${flat.length}`);
    check(flat.every(Number.isFinite), "every value of the window must be a finite number");
    return Float32Array.from(flat);
  }

  /** The feeds of a list of texts, images, windows or table rows (one input), or `{name: ort.Tensor}` as
   *  given. */
  feeds(items) {
    const input = this.spec.inputs[0];
    const { text, image, series, table } = this.spec;
    if (!Array.isArray(items) || !(text || image || series || table)) return items;
    check(items.length > 0, "nothing to run: pass a list with at least one item");
    const encode = text ? (t) => this.encodeText(t) : image ? (i) => this.encodeImage(i)
      : series ? (w) => this.encodeSeries(w) : (r) => this.encodeRow(r);
    const rows = items.map(encode);
    const data = new (text ? Int32Array : Float32Array)(rows.length * rows[0].length);
    rows.forEach((row, i) => data.set(row, i * row.length));
    const dims = text || table ? [rows.length, rows[0].length]
      : image ? [rows.length, image.height, image.width, image.channels]
        : [rows.length, series.width, series.features];
    return { [input.name]: new this.ort.Tensor(input.dtype, data, dims) };
  }

  /** Run the model: `inputs` is a list of texts/images, or `{name: ort.Tensor}`; returns the session's
   *  outputs and the milliseconds `session.run` took. */
  async run(inputs) {
    const feeds = this.feeds(inputs);
    const start = performance.now();
    const outputs = await this.session.run(feeds);
    return { outputs, ms: performance.now() - start };
  }

  /** Forecast from one window in series units: `{forecast: [the next values, in series units], ms}`. */
  async forecast(window) {
    check(this.spec.series, `${this.spec.name} is not a forecaster in series units`);
    const { outputs, ms } = await this.run([window]);
    return { forecast: Array.from(outputs[this.spec.output].data), ms };
  }

  /** A regressor's prediction for one table row, in target units: `{values: [...], ms}`. */
  async predict(row) {
    check(this.spec.table && this.spec.task === "regression", `${this.spec.name} is not a table regressor`);
    const { outputs, ms } = await this.run([row]);
    return { values: Array.from(outputs[this.spec.output].data), ms };
  }

  /** Classify one text, image or table row: `{classes: [{index, label, probability}], ms}`. */
  async classify(item, { topK: k = 5 } = {}) {
    const { outputs, ms } = await this.run([item]);
    return { classes: topK(outputs[this.spec.output].data, this.labels, k), ms };
  }
}

async function readJSON(fetchFn, url) {
  const response = await fetchFn(url);
  check(response.ok, `${url} could not be read (${response.status}): serve the whole web/ folder`);
  return response.json();
}

/** Load a web export from `base` (its folder's URL): model.json, the vocabulary, the ONNX file of the
 *  `quantization` ("fp32" or "int8"). `ort` is onnxruntime-web's module; `fetch` defaults to the global. */
export async function loadModel(base, { ort = globalThis.ort, quantization = "fp32", fetch: fetchFn = globalThis.fetch,
  sessionOptions = { executionProviders: ["wasm"] } } = {}) {
  check(ort, "pass { ort } (import * as ort from './vendor/onnxruntime-web/ort.wasm.min.mjs')");
  const root = base.endsWith("/") ? base : `${base}/`;
  const spec = await readJSON(fetchFn, `${root}model.json`);
  const file = spec.models[quantization];
  check(file, `no ${quantization} file in this export (it has ${Object.keys(spec.models).join(", ")})`);
  const vocabulary = spec.text ? await readJSON(fetchFn, root + spec.text.vocabulary) : null;
  const response = await fetchFn(root + file);
  check(response.ok, `${root + file} could not be read (${response.status})`);
  const session = await ort.InferenceSession.create(new Uint8Array(await response.arrayBuffer()), sessionOptions);
  return new ZooModel({ ort, spec, session, vocabulary });
}
