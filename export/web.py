"""`web`: a folder a web page can serve as it is, run by ONNX Runtime Web (WebAssembly).

TensorFlow.js' converter does not take Keras 3 models; onnxruntime-web runs the ONNX file the zoo already
writes. What a page also needs is the training's preprocessing in JavaScript, so the bundle holds:

    web/
      <name>.onnx, <name>.int8.onnx   the ONNX files (int8 where the export wrote one)
      model.json                      inputs, outputs, class names, the preprocessing spec, the files
      labels.json, vocab.json         class names; a text model's vocabulary (token i at index i)
      zoo-model.js                    ES module: load, preprocess (text: byte-for-byte the Python token ids;
                                      images: resized and scaled as training did; table rows: encoded as
                                      `pipelines.tabular_encoder` does), run, top-k classes
      index.html                      demo page: drop an image, type a sentence, a series' last values or a
                                      table row; see classes (or values) and latency
      vendor/onnxruntime-web/         the pinned onnxruntime-web build the page imports (no CDN needed)

`zoo verify` runs the bundle in Node.js through its own zoo-model.js (`node_runner.mjs`) with
onnxruntime-web's WebAssembly backend, on the export's verification inputs turned back into what a page
has (texts, RGBA pixels, windows of numbers, table rows as text). The npm packages are pinned in
`web_assets/package.json` and its lock file; `zoo setup-web` installs them once (Node.js 18+ and npm) into
`runtime_dir()`.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from export import common
from export import manifest as manifest_lib
from export.formats import FORMATS, Format, Planned, register_format

ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "web_assets")
VENDOR = "vendor/onnxruntime-web"
# The onnxruntime-web files a page loads: the WebAssembly-only build and its SIMD (threaded) module.
VENDORED = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
OOV_WORD = "zzoov"  # stands for an out-of-vocabulary token when verification ids are turned back into text


def _lock_digest():
    with open(os.path.join(ASSETS, "package-lock.json"), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


def runtime_version():
    with open(os.path.join(ASSETS, "package.json")) as f:
        return json.load(f)["dependencies"]["onnxruntime-web"]


def runtime_dir():
    """Where `zoo setup-web` installs the pinned npm packages (`$ZOO_WEB_RUNTIME`, else the user's cache)."""
    root = os.environ.get("ZOO_WEB_RUNTIME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "zoo", "web-runtime")
    return os.path.join(root, _lock_digest())


SETUP_HINT = "Install them once with `zoo setup-web` (needs Node.js 18+ and npm; offline: point $ZOO_WEB_RUNTIME at " \
             "a folder where it ran)."


def node_modules(required=True):
    """The installed packages' `node_modules`, or None / an `ExportError` saying how to install them."""
    folder = os.path.join(runtime_dir(), "node_modules")
    if os.path.isfile(os.path.join(folder, "onnxruntime-web", "dist", VENDORED[0])):
        return folder
    if required:
        raise common.ExportError(f"The web format needs onnxruntime-web {runtime_version()} (npm), not found in "
                                 f"{runtime_dir()}. {SETUP_HINT}")
    return None


def _node():
    node = shutil.which("node")
    if not node:
        raise common.ExportError("The web bundle is verified in Node.js, which is not installed (no `node` on PATH). "
                                 "Install Node.js 18+ (e.g. `apt-get install nodejs npm`), then `zoo setup-web`.")
    return node


def setup(verbose=True):
    """Install the pinned npm packages (`npm ci`, from the lock file) into `runtime_dir()`; returns it."""
    _node()
    npm = shutil.which("npm")
    if not npm:
        raise common.ExportError("`npm` is not installed: install Node.js 18+ with npm, then run `zoo setup-web`.")
    target = runtime_dir()
    if node_modules(required=False):
        if verbose:
            print(f"onnxruntime-web {runtime_version()} is installed in {target}")
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    stage = tempfile.mkdtemp(prefix=".setup-", dir=os.path.dirname(target))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(os.path.join(ASSETS, name), stage)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=stage,
                              capture_output=True, text=True)
        if done.returncode:
            raise common.ExportError(f"`npm ci` failed in {stage}: {(done.stderr or done.stdout).strip()[-1500:]}")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(stage, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if verbose:
        print(f"Installed onnxruntime-web {runtime_version()} and playwright-core into {target}")
    return target


def _spec(signature, options, models):
    """model.json: what zoo-model.js and index.html read."""
    pre = options.get("preprocessing") or {}
    inputs = signature.describe_inputs()
    spec = {"format": "zoo-web/1", "name": signature.name, "task": signature.task.name, "inputs": inputs,
            "output": signature.output, "outputs": list(signature.outputs), "labels": options.get("labels"),
            "preprocessing": pre, "models": models, "onnxruntime_web": runtime_version(),
            "image": None, "text": None, "series": None, "table": None}
    shape = inputs[0]["shape"]
    if pre.get("type") == "rescale" and len(inputs) == 1 and len(shape) == 4:
        spec["image"] = {"height": shape[1], "width": shape[2], "channels": shape[3], "scale": pre["scale"],
                         "offset": pre.get("offset", 0.0)}
    elif signature.task.name == "forecasting" and pre.get("units") == "series" and len(shape) == 3:
        spec["series"] = {"width": shape[1], "features": shape[2], "horizon": pre.get("horizon")}
    elif pre.get("type") == "tabular" and len(inputs) == 1 and shape[1:] == [pre.get("encoded_size")]:
        spec["table"] = _table_spec(pre)
    elif pre.get("type") == "text_vectorization" and options.get("vectorizer") is not None:
        if pre.get("split", "whitespace") != "whitespace":
            raise common.ExportError(f"The web format tokenizes like the vectorizer's 'whitespace' split; this model's "
                                     f"vectorizer splits by {pre.get('split')!r}. Leave web out of --formats.")
        spec["text"] = {"vocabulary": "vocab.json", "standardize": pre.get("standardize"), "oov_id": pre.get("oov_id", 1),
                        "padding_id": pre.get("padding_id", 0), "truncate": pre.get("truncate", "post"),
                        "sequence_length": signature.sequence_length or pre.get("sequence_length")}
    return spec


def _table_spec(pre):
    """What zoo-model.js' `encodeRow` needs to encode a row as `pipelines.tabular_encoder` does: the columns,
    each numeric column's training mean and variance (and whether it has a missing flag), each categorical
    column's vocabulary, the spellings of a missing value and Keras' epsilon (`Normalization`'s floor)."""
    import keras

    from pipelines.sources.tabular_file import missing_spellings

    return {"columns": list(pre["columns"]),
            "numeric": [{"name": c["name"], "mean": c["mean"], "variance": c["variance"],
                         "missing": bool(c.get("missing"))} for c in pre["numeric"]],
            "categorical": [{"name": c["name"], "vocabulary": list(c["vocabulary"])} for c in pre["categorical"]],
            "missing": list(missing_spellings(pre.get("na_values", []))),
            "missing_categories": "na_values" in pre, "epsilon": keras.config.epsilon()}


def _onnx_files(model, signature, out_dir, options, quantizations):
    """`{quantization: bytes}` of the ONNX files: this export's own when the onnx format wrote them into the
    same staging folder, else written here the same way (`OnnxFormat.write`)."""
    onnx_format = FORMATS["onnx"]
    wanted = {p.quantization: p.path for p in onnx_format.planned(signature.name, quantizations)}
    if not all(os.path.isfile(os.path.join(out_dir, name)) for name in wanted.values()):
        with tempfile.TemporaryDirectory(prefix="zoo-web-onnx-") as folder:
            onnx_format.write(model, signature, folder, options)
            return {q: _read(os.path.join(folder, name)) for q, name in wanted.items()}
    return {q: _read(os.path.join(out_dir, name)) for q, name in wanted.items()}


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@register_format
class WebFormat(Format):
    """`web/`: the ONNX files with zoo-model.js, model.json, labels, vocabulary, index.html and the pinned
    onnxruntime-web build (see the module docstring). Not in the default formats: `--formats ...,web`."""

    name = "web"
    order = 35
    quantizations = ("fp32", "int8")
    default = False

    def planned(self, model_name, quantizations):
        """The onnx format's files (named as it names them), in `web/`."""
        return [Planned(p.key.replace("onnx", self.name), f"web/{p.path}", p.quantization)
                for p in FORMATS["onnx"].planned(model_name, quantizations)]

    def check_options(self, options):
        node_modules()  # the vendored runtime comes from the installed packages: say how before any work

    def write(self, model, signature, out_dir, options):
        from pipelines.files import atomic_write

        planned = self.planned(signature.name, options.get("quantizations", ()) if options.get("calibration")
                               is not None else ())
        models = {p.quantization: os.path.basename(p.path) for p in planned}
        spec = _spec(signature, options, models)
        folder = os.path.join(out_dir, "web")
        os.makedirs(os.path.join(folder, VENDOR), exist_ok=True)
        for quantization, data in _onnx_files(model, signature, out_dir, options, list(models)).items():
            atomic_write(os.path.join(folder, models[quantization]), data)
        assets = {"model.json": json.dumps(spec, indent=1), "labels.json": json.dumps(options.get("labels") or [])}
        if spec["text"]:
            assets["vocab.json"] = json.dumps(list(options["vectorizer"].get_vocabulary()), ensure_ascii=False)
        for name, text in assets.items():
            atomic_write(os.path.join(folder, name), text)
        for name in ("zoo-model.js", "index.html"):
            shutil.copy(os.path.join(ASSETS, name), os.path.join(folder, name))
        source = os.path.join(node_modules(), "onnxruntime-web", "dist")
        for name in VENDORED:
            shutil.copy(os.path.join(source, name), os.path.join(folder, VENDOR, name))
        rels = list(assets) + ["zoo-model.js", "index.html"] + [f"{VENDOR}/{n}" for n in VENDORED]
        bundle = {rel: manifest_lib.sha256(os.path.join(folder, rel)) for rel in rels}
        entries = {}
        for p in planned:
            entries[p.key] = {"format": self.name, "quantization": p.quantization, "path": p.path, "bundle": "web",
                              "runtime": f"onnxruntime-web {runtime_version()} (WebAssembly)",
                              "takes": "texts" if spec["text"] else "images" if spec["image"] else
                              "series" if spec["series"] else "rows" if spec["table"] else "tensors"}
        entries["web"]["assets"] = bundle  # the bundle's other files, hashed like the models
        return entries

    def raw_inputs(self, entry):
        takes = entry.get("takes")
        if takes == "texts":
            return "zoo-model.js takes texts: standardization, tokens, vocabulary, length as in training"
        if takes == "images":
            return "zoo-model.js takes RGBA pixels (ImageData): resized and scaled as in training"
        if takes == "series":
            return "zoo-model.js takes the last values in series units; the transform is in the file"
        if takes == "rows":
            return ("zoo-model.js takes table rows ({column: value}): standardization, missing values and one-hot "
                    "categories as in training")
        return None

    def usage(self, entry, manifest, folder):
        call = ("const { values, ms } = await model.predict(row);  // a table row {column: value}: target units\n"
                if entry.get("takes") == "rows" and manifest.get("task") == "regression" else
                "const { classes, ms } = await model.classify(input, { topK: 5 });  // a text, a canvas' ImageData, "
                "a table row {column: value}\n")
        return (f"Serve `{folder}/web/` with any static file server (`python -m http.server -d {folder}/web`) and "
                "open `index.html`, or in your own page:\n\n```js\n"
                "import * as ort from \"./vendor/onnxruntime-web/ort.wasm.min.mjs\";\n"
                "import { loadModel } from \"./zoo-model.js\";\n"
                "const model = await loadModel(\".\", { ort });  // { quantization: \"int8\" } for the int8 file\n"
                + call + "```")

    def runner(self, entry, out_dir):
        session = NodeSession(os.path.join(out_dir, entry.get("bundle", "web")), entry.get("quantization", "fp32"))
        return session.run, True


class NodeSession:
    """The bundle run by `node_runner.mjs` in one Node.js process: verification inputs in, outputs back."""

    def __init__(self, folder, quantization="fp32"):
        self.folder = folder
        with open(os.path.join(folder, "model.json"), encoding="utf-8") as f:
            self.spec = json.load(f)
        self.vocabulary, self.oov_word = None, OOV_WORD
        if self.spec.get("text"):
            from pipelines.paths import check_inside

            vocabulary = os.path.join(folder, self.spec["text"]["vocabulary"])
            check_inside(folder, vocabulary, "the web bundle's model.json")
            with open(vocabulary, encoding="utf-8") as f:
                self.vocabulary = json.load(f)
            self.oov_word = _absent_word(self.vocabulary)
        self.process = subprocess.Popen([_node(), os.path.join(ASSETS, "node_runner.mjs"), node_modules(), folder,
                                         quantization], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, encoding="utf-8")
        hello = self.process.stdout.readline()
        if not hello:
            raise common.ExportError(f"Node.js could not load the web bundle {folder!r}: "
                                     f"{self.process.stderr.read().strip()[-1500:]}")

    def close(self):
        process = getattr(self, "process", None)
        if process and process.poll() is None:
            process.kill()
            process.wait()

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the subprocess module may be gone; the pipe's end stops node
            pass

    def ask(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline() or '{"error": "Node.js exited"}')
        if "error" in reply:
            raise common.ExportError(f"The web bundle {self.folder!r} failed in Node.js: {reply['error']}")
        return reply

    def tokenize(self, texts):
        """Token ids zoo-model.js gives `texts` (a list of strings)."""
        return np.asarray(self.ask({"tokenize": list(texts)})["ids"], "int32")

    def encode_rows(self, rows):
        """The features zoo-model.js encodes table `rows` (`[{column: value}]`) into, `(batch, encoded_size)`."""
        return np.asarray(self.ask({"encode_rows": list(rows)})["features"], "float32")

    def parse_table(self, text):
        """The rows (`[{column: value}]`) zoo-model.js reads from pasted CSV or TSV `text`."""
        return self.ask({"parse_table": text})["rows"]

    def run(self, inputs, repeat=1):
        reply = self.ask({**self.request(inputs), "repeat": repeat})
        self.last_ms = reply["ms"]
        value = reply["outputs"][self.spec["output"]]
        return _decode(value)

    def request(self, inputs):
        """What a page would have: texts for token ids (turned back into words), RGBA pixels for images whose
        values are exact pixel levels; otherwise the tensors as they are."""
        name = self.spec["inputs"][0]["name"]
        if self.spec.get("text") and self.vocabulary is not None and _as_text(np.asarray(inputs[name]), self.spec["text"]):
            return {"texts": [self.text_of(row) for row in np.asarray(inputs[name])]}
        if self.spec.get("series"):  # windows in series units, as a page has them: lists of numbers
            return {"series": np.asarray(inputs[name], "float64").tolist()}
        rows = _rows_of(np.asarray(inputs[name]), self.spec["table"]) if self.spec.get("table") else None
        if rows is not None:  # encoded features turned back into the cells of a table row, as text
            return {"rows": rows}
        image = self.spec.get("image")
        if image:
            x = np.asarray(inputs[name], "float64")
            levels = (x - image["offset"]) / image["scale"]
            if np.abs(levels - np.round(levels)).max(initial=0) < 1e-3 and levels.min(initial=0) > -0.5 \
                    and levels.max(initial=0) < 255.5:
                pixels = np.round(levels).astype("uint8")
                if pixels.shape[-1] == 1:
                    pixels = np.repeat(pixels, 3, axis=-1)
                rgba = np.concatenate([pixels, np.full(pixels.shape[:-1] + (1,), 255, "uint8")], axis=-1)
                return {"images": {"dims": list(rgba.shape), "b64": base64.b64encode(rgba.tobytes()).decode()}}
        return {"tensors": {i["name"]: _encode(np.asarray(inputs[i["name"]]), i["dtype"]) for i in self.spec["inputs"]}}

    def text_of(self, ids):
        """A text whose token ids are `ids`: the vocabulary's tokens, `OOV_WORD` for out-of-vocabulary ids."""
        oov = self.spec["text"]["oov_id"]
        words = [self.oov_word if i == oov else self.vocabulary[i] for i in ids if i != self.spec["text"]["padding_id"]]
        return " ".join(words)


def _absent_word(vocabulary):
    """`OOV_WORD`, lengthened until `vocabulary` lacks it: stands for an out-of-vocabulary token or category."""
    known, word = set(vocabulary), OOV_WORD
    while word in known:
        word += "x"
    return word


def _rows_of(x, table):
    """The table rows (`{column: text}`) whose encoding is `x` (`(batch, encoded_size)`): numbers from the
    standardized values, `""` where a missing flag is set, a category's name from its one-hot slot (slot 0,
    a value training never saw: a name the vocabulary lacks). None when `x` is not such an encoding (random
    verification features are fed as they are)."""
    numeric, categorical = table["numeric"], table["categorical"]
    flagged = [i for i, c in enumerate(numeric) if c["missing"]]
    n, m = len(numeric), len(flagged)
    if x.ndim != 2 or x.shape[1] != n + m + sum(len(c["vocabulary"]) + 1 for c in categorical):
        return None
    flags = x[:, n:n + m]
    if not np.isin(flags, (0, 1)).all():
        return None
    missing = np.zeros((len(x), n), bool)
    missing[:, flagged] = flags == 1
    if np.abs(x[:, :n][missing]).max(initial=0) > 1e-6:  # an imputed value is the mean: 0 once standardized
        return None
    scale = np.maximum(np.sqrt(np.asarray([c["variance"] for c in numeric], "float64")), table["epsilon"])
    numbers = x[:, :n].astype("float64") * scale + np.asarray([c["mean"] for c in numeric], "float64")
    cells, start = {}, n + m
    for c in categorical:
        block = x[:, start:start + len(c["vocabulary"]) + 1]
        if not (np.isin(block, (0, 1)).all() and (block.sum(axis=1) == 1).all()):
            return None
        unseen = _absent_word(c["vocabulary"])
        cells[c["name"]] = [c["vocabulary"][k - 1] if k else unseen for k in block.argmax(axis=1)]
        start += len(c["vocabulary"]) + 1
    for i, c in enumerate(numeric):
        # float32's shortest spelling, as a file would hold the number ("6.9", not 6.899999618530273)
        cells[c["name"]] = ["" if gap else str(np.float32(v)) for v, gap in zip(numbers[:, i], missing[:, i])]
    return [{column: cells[column][r] for column in table["columns"]} for r in range(len(x))]


def _as_text(ids, text):
    """True when every row of token ids is what some text gives: known ids, then padding only, at the
    vectorizer's length (random verification ids with padding inside are fed as they are)."""
    pad = text["padding_id"]
    if ids.ndim != 2 or (text.get("sequence_length") and ids.shape[1] != text["sequence_length"]):
        return False
    used = ids != pad
    return bool(used[:, 0].all() and (used[:, 1:] <= used[:, :-1]).all())


def _serve(folder):
    """A static file server on 127.0.0.1 (a free port) over `folder`, in a thread."""
    import functools
    import http.server
    import threading

    handler = functools.partial(_quiet_handler(), directory=folder)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _quiet_handler():
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # no access log on the console
            pass

    return Handler


def check_in_browser(folder, kind, value, screenshot, *, chromium=None, timeout=180):
    """Serve the bundle `folder` on 127.0.0.1, open its index.html in headless Chromium, give it an image file
    (`kind="image"`), a sentence (`"text"`), a forecaster's last values (`"series"`, comma-separated), a table
    row (`"table"`, `{column: value}` as JSON, typed into the boxes) or a file's lines (`"table-csv"`, pasted) as a
    user would, save a screenshot; returns what the page showed:
    `{"top": class name (series: the forecast as JSON; a table regressor: its values as JSON), "rows": [...],
    "errors": [...], "error": text}`."""
    chromium = chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise common.ExportError("No Chromium found: install it (Debian: apt-get install chromium) to open the page.")
    node_modules()  # the installed packages first: the script goes beside them (it imports playwright-core)
    script = os.path.join(runtime_dir(), "browser_check.mjs")
    shutil.copy(os.path.join(ASSETS, "browser_check.mjs"), script)
    server = _serve(folder)
    try:
        done = subprocess.run([_node(), script, chromium, f"http://127.0.0.1:{server.server_port}/index.html", kind,
                               value, screenshot], capture_output=True, text=True, timeout=timeout)
    finally:
        server.shutdown()
    if done.returncode:
        raise common.ExportError(f"The page {folder}/index.html failed in Chromium: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _encode(array, dtype):
    array = np.ascontiguousarray(array.astype(dtype))
    return {"dtype": dtype, "dims": list(array.shape), "b64": base64.b64encode(array.tobytes()).decode()}


def _decode(value):
    array = np.frombuffer(base64.b64decode(value["b64"]), dtype=value["dtype"])
    return array.reshape(value["dims"]).astype("float32")
