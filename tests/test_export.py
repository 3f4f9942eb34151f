"""Export: every tiny model x every format, TF Serving layout and requests,
atomic versions, int8 on real data, bad input, the CLI."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import keras

import pipelines
import zoo
from conftest import example_inputs
from export import ExportError, common, export_model, litert_metadata, verify_export as verify
from export import onnx as onnx_format
from export import saved_model as sm
from export import tflite

TINY = zoo.list_models(tiny=True)


def _inputs(model, batch=6):
    x = example_inputs(model, batch=batch, length=16)
    return x if isinstance(x, dict) else [x]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Export each tiny model once (all formats) and share the folders."""
    cache = {}

    def get(name):
        if name not in cache:
            keras.utils.set_random_seed(0)
            model = zoo.create_model(name)
            x = _inputs(model)
            out = str(tmp_path_factory.mktemp(name))
            report = export_model(model, out, calibration_data=x, eval_data=x, verbose=False)
            cache[name] = (model, out, report, x)
        return cache[name]

    return get


@pytest.mark.parametrize("name", TINY)
def test_every_format_matches_keras_and_tflite_is_builtins_only(name, exports):
    # One export per model (exporting is most of the cost): the accuracy checks and the op checks.
    model, out, report, _ = exports(name)
    rows = {r["file"]: r for r in report["results"]}
    # int8 for every family: LiteRT (recurrent models from an unrolled copy) and ONNX (static QDQ).
    expected = {"saved_model", "onnx", "onnx_int8", "tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8"}
    assert set(rows) == expected
    for key in ("saved_model", "onnx", "tflite_fp32"):
        assert rows[key]["passed"], rows[key]
        assert rows[key]["max_abs_err_batch1"] <= 1e-4 and rows[key]["max_abs_err_batchN"] <= 1e-4
    # Dynamic batch where the format allows; recurrent TFLite is fixed to batch 1.
    assert rows["saved_model"]["batch_sizes"] == [1, 6] and rows["onnx"]["batch_sizes"] == [1, 6]
    assert rows["tflite_fp32"]["batch_sizes"] == ([1] if common.has_recurrent_layers(model) else [1, 6])
    for key in ("tflite_fp16", "tflite_dynamic", "tflite_int8", "onnx_int8"):
        if key in rows:  # reduced precision: close, not exact (untrained weights)
            assert np.isfinite(rows[key]["max_abs_err_batchN"]) and rows[key]["max_abs_err_batchN"] < 0.5
    # Every TFLite file runs in a stock interpreter: builtin ops only (no Flex/custom ops).
    files = [f for f in os.listdir(out) if f.endswith(".tflite")]
    assert len(files) == len(expected) - 3
    from tensorflow.lite.python import schema_py_generated as schema

    for f in files:
        flat = open(os.path.join(out, f), "rb").read()
        ops = tflite.op_names(flat)
        assert not [o for o in ops if o.startswith("CUSTOM") or "Flex" in o], (f, ops)
        # tensor names without the converter's `;`-joined fused-op names (9 of the IMDB BiLSTM int8 file's 14 MB)
        parsed = schema.ModelT.InitFromPackedBuf(bytearray(flat), 0)
        assert not [t.name for g in parsed.subgraphs for t in g.tensors if t.name and b";" in t.name], f
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    if common.has_recurrent_layers(keras.saving.load_model(os.path.join(out, "model.keras"))):
        assert "WHILE" in manifest["files"]["tflite_fp32"]["ops"]
    import onnx  # free ONNX dimensions carry names a runtime user reads (tf2onnx wrote unk__N)

    graph = onnx.load(os.path.join(out, manifest["files"]["onnx"]["path"])).graph
    for tensor in list(graph.input) + list(graph.output):
        free = [d.dim_param for d in tensor.type.tensor_type.shape.dim if not d.HasField("dim_value")]
        assert free[:1] == ["batch"] and not [n for n in free if n.startswith("unk")], (tensor.name, free)
        if tensor.type.tensor_type.elem_type in (onnx.TensorProto.INT32, onnx.TensorProto.INT64):
            assert free[1:] in ([], ["tokens"]), free
    # A runtime user needs no manifest: every file's inputs and outputs are the SavedModel's signature's.
    inputs, outputs = sorted(i["name"] for i in manifest["inputs"]), sorted(manifest["outputs"])
    if "saved_model" in manifest["files"]:  # published only when every file passed (random weights: not always)
        serving = tf.saved_model.load(os.path.join(out, manifest["files"]["saved_model"]["path"])).signatures[
            "serving_default"]
        assert sorted(serving.structured_input_signature[1]) == inputs and sorted(serving.structured_outputs) == \
            outputs
    for key in ("onnx", "onnx_int8"):
        graph = onnx.load(os.path.join(out, manifest["files"][key]["path"])).graph
        assert [o.name for o in graph.output] == manifest["outputs"], key
    with np.load(os.path.join(out, "verify_inputs.npz")) as f:
        first = {k: f[k][:1] for k in f.files if k != "__labels__"}
    from ai_edge_litert.interpreter import Interpreter

    for f in files:
        interp = Interpreter(model_path=os.path.join(out, f))  # LiteRT's defaults
        listed = interp.get_signature_list()
        assert list(listed) == ["serving_default"], (f, listed)
        assert sorted(listed["serving_default"]["inputs"]) == inputs, f
        assert sorted(listed["serving_default"]["outputs"]) == outputs, f
        # LiteRT metadata as Android's tooling reads it: the signature's names, [0, 1] images from 8-bit pixels
        info, packed = litert_metadata.read(open(os.path.join(out, f), "rb").read())
        graph_meta = info.subgraphMetadata[0]
        assert sorted(t.name.decode() for t in graph_meta.inputTensorMetadata) == inputs, f
        assert sorted(t.name.decode() for t in graph_meta.outputTensorMetadata) == outputs, f
        units = [u for t in graph_meta.inputTensorMetadata for u in (t.processUnits or [])]
        assert [list(u.options.std) for u in units] == ([[255.0]] if inputs == ["images"] else []), f
        assert packed == {}, f  # no class names given to this export: no labels file
        got = interp.get_signature_runner("serving_default")(**first)
        assert sorted(got) == outputs, f
        if "class_ids" in got:
            scores = got[manifest["output"]]
            assert got["class_ids"].shape == (1,) and got["class_ids"][0] == scores.argmax(-1)[0], (f, got)


def test_manifest_and_onnx_metadata(exports):
    _, out, _, _ = exports("transformer_seq2seq_tiny")
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    assert sorted(i["name"] for i in manifest["inputs"]) == ["decoder_tokens", "encoder_tokens"]
    assert manifest["inputs"][0]["shape"] == [None, None] and manifest["inputs"][0]["dtype"] == "int32"
    assert manifest["output"] == "next_token_probabilities"
    for pkg in ("tensorflow", "keras", "tf2onnx", "onnxruntime"):
        assert manifest["versions"][pkg]
    sess = onnx_format.session(os.path.join(out, "transformer_seq2seq_tiny.onnx"))
    assert sorted(i.name for i in sess.get_inputs()) == ["decoder_tokens", "encoder_tokens"]
    assert sess.get_inputs()[0].shape[0] != 1  # dynamic batch
    assert [o.name for o in sess.get_outputs()] == ["next_token_probabilities"]
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["zoo.name"] == "transformer_seq2seq_tiny" and meta["zoo.task"] == "seq2seq"


# ----------------------------------------------------------------- TF Serving


def test_tf_serving_layout_signatures_warmup_and_requests(exports):
    from tensorflow_serving.apis import prediction_log_pb2

    model, out, _, x = exports("resnet8")
    version_dir = os.path.join(out, "saved_model", "resnet8", "1")
    assert os.path.isfile(os.path.join(version_dir, "saved_model.pb"))
    loaded = tf.saved_model.load(version_dir)
    fn = loaded.signatures["serving_default"]
    assert list(fn.structured_input_signature[1]) == ["images"]
    assert set(fn.structured_outputs) == {"probabilities", "class_ids"}
    # Warmup records parse as PredictionLogs for our signature.
    warmup = os.path.join(version_dir, "assets.extra", "tf_serving_warmup_requests")
    records = list(tf.data.TFRecordDataset(warmup))
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    assert log.predict_log.request.model_spec.signature_name == "serving_default"
    assert list(log.predict_log.request.inputs) == ["images"]
    expected = keras.ops.convert_to_numpy(model(x[0][:2], training=False))
    # REST: POST /v1/models/resnet8:predict with {"instances": [...]} -> signature inputs.
    body = json.loads(json.dumps(sm.rest_request(model, [x[0][:2]])))
    assert set(body) == {"instances"} and np.shape(body["instances"]) == (2, 32, 32, 3)
    rest_out = fn(images=tf.constant(np.array(body["instances"], "float32")))
    np.testing.assert_allclose(rest_out["probabilities"].numpy(), expected, atol=1e-5)
    # gRPC: a PredictRequest proto, its tensors decoded as TF Serving does.
    request = sm.grpc_request(model, [x[0][:2]], model_name="resnet8")
    inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    grpc_out = fn(**{k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_allclose(grpc_out["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(grpc_out["class_ids"].numpy(), expected.argmax(-1))


def test_image_bytes_signature_applies_the_training_preprocessing(tmp_path):
    model = zoo.resnet8(classes=4)
    pre = {"type": "rescale", "scale": 1 / 255, "image_size": [32, 32]}
    export_model(model, str(tmp_path), formats=("saved_model",), preprocessing=pre, verbose=False)
    image = np.random.default_rng(0).integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
    png = tf.io.encode_png(image).numpy()
    fn = tf.saved_model.load(str(tmp_path / "saved_model" / "resnet8" / "1")).signatures["serving_bytes"]
    got = fn(image_bytes=tf.constant([png, png]))["probabilities"].numpy()
    want = keras.ops.convert_to_numpy(model(image[None].astype("float32") / 255.0, training=False))
    np.testing.assert_allclose(got[:1], want, atol=1e-5)


def test_serving_signatures_refuse_non_finite_inputs_and_images_declaring_too_many_pixels(tmp_path):
    from pipelines.image import encoded_pixels

    image = np.random.default_rng(0).integers(0, 255, size=(40, 24, 3), dtype=np.uint8)
    encoded = {"png": tf.io.encode_png(image), "jpeg": tf.io.encode_jpeg(image),
               "gif": tf.constant(b"GIF89a" + (24).to_bytes(2, "little") + (40).to_bytes(2, "little") + bytes(20)),
               "bmp": tf.constant(b"BM" + bytes(16) + (24).to_bytes(4, "little") + (2**32 - 40).to_bytes(4, "little")
                                  + bytes(8))}
    assert {k: int(encoded_pixels(v)) for k, v in encoded.items()} == dict.fromkeys(encoded, 960)
    model = zoo.resnet8(classes=3)
    pre = {"type": "rescale", "scale": 1 / 255, "image_size": [32, 32]}
    export_model(model, str(tmp_path), formats=("saved_model",), preprocessing=pre, verbose=False, max_pixels=1000)
    loaded = tf.saved_model.load(str(tmp_path / "saved_model" / "resnet8" / "1"))
    ok = loaded.signatures["serving_bytes"](image_bytes=tf.constant([encoded["png"].numpy()]))
    assert ok["probabilities"].shape == (1, 3)
    bomb = bytearray(tf.io.encode_png(image[:8, :8]).numpy())  # 8x8 pixels, its header says 20000x20000
    bomb[16:24] = (20000).to_bytes(4, "big") * 2
    for data, what in ((bytes(bomb), "20000x20000"), (tf.io.encode_png(np.zeros((40, 40, 3), np.uint8)).numpy(),
                                                       "40x40 over max_pixels=1000")):
        with pytest.raises(tf.errors.InvalidArgumentError, match="declares more than 1,000 pixels"):
            loaded.signatures["serving_bytes"](image_bytes=tf.constant([data]))
    x = np.zeros((2, 32, 32, 3), "float32")
    x[1, 3, 3, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="serving_default: an input holds NaN or Inf"):
        loaded.signatures["serving_default"](images=tf.constant(x))
    with pytest.raises(ExportError, match="`max_pixels` is a positive integer"):
        export_model(model, str(tmp_path / "again"), formats=("saved_model",), max_pixels=0, verbose=False)


def test_versions_increment_and_a_failed_export_leaves_no_version(tmp_path):
    model = zoo.mlp_tiny()
    base = str(tmp_path / "serving")
    first = sm.export_saved_model(model, base, name="m")
    second = sm.export_saved_model(model, base, name="m")
    assert (os.path.basename(first), os.path.basename(second)) == ("1", "2")

    def crash(path):
        assert os.path.exists(os.path.join(path, "saved_model.pb"))  # half-way: files written
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        sm.export_saved_model(model, base, name="m", _before_rename=crash)
    assert sorted(os.listdir(os.path.join(base, "m"))) == ["1", "2"]  # no 3, no temp folder
    with pytest.raises(ExportError, match="immutable"):
        sm.export_saved_model(model, base, name="m", version=2)


def test_text_model_takes_raw_strings_and_ships_its_vocabulary(tmp_path):
    texts = np.array(["good fun film", "bad boring film", "fun good", "boring bad"] * 4, dtype=object)
    data = pipelines.text_splits((texts, np.array([1, 0, 1, 0] * 4, "int32")), name="toy",
                                 labels=["neg", "pos"], sequence_length=8)
    model = zoo.lstm_classifier_tiny(vocab_size=data.preprocessing["vocab_size"])
    tokens = next(iter(data.batches("train", 4, training=False)))[0].numpy()
    export_model(model, str(tmp_path), vectorizer=data.vectorizer, eval_data=tokens,
                 preprocessing=data.preprocessing, class_names=data.labels, verbose=False)
    fn = tf.saved_model.load(str(tmp_path / "saved_model" / model.name / "1")).signatures["serving_text"]
    got = fn(text=tf.constant(["good fun film", "bad boring film"]))["probabilities"].numpy()
    want = keras.ops.convert_to_numpy(model(data.vectorizer(["good fun film", "bad boring film"])))
    np.testing.assert_allclose(got, want, atol=1e-5)
    vocab = open(tmp_path / "vocabulary.txt").read().splitlines()
    assert vocab[:2] == ["", "[UNK]"] and "film" in vocab


def test_text_keeping_the_last_tokens_serves_the_same_ids(tmp_path):
    from zoo.train import load_vectorizer, save_vectorizer

    texts = np.array(["good fun film " * 5 + "but bad", "bad boring film", "fun good", "boring bad"] * 4, dtype=object)
    data = pipelines.text_splits((texts, np.array([1, 0, 1, 0] * 4, "int32")), name="toy",
                                 labels=["neg", "pos"], sequence_length=6, truncate="pre")
    tokens = next(iter(data.batches("train", 4, training=False)))[0].numpy()
    vocab = data.vectorizer.get_vocabulary()
    assert [vocab[i] for i in tokens[0]] == ["film", "good", "fun", "film", "but", "bad"]  # the end survives
    assert tokens[2].tolist()[2:] == [0, 0, 0, 0]  # short texts stay right-padded
    save_vectorizer(data.vectorizer, str(tmp_path / "vectorizer.keras"))
    reloaded = load_vectorizer(str(tmp_path / "vectorizer.keras"))
    model = zoo.lstm_classifier_tiny(vocab_size=data.preprocessing["vocab_size"])
    export_model(model, str(tmp_path / "exp"), formats=("saved_model",), vectorizer=reloaded,
                 eval_data=tokens, preprocessing=data.preprocessing, verbose=False)
    fn = tf.saved_model.load(str(tmp_path / "exp" / "saved_model" / model.name / "1")).signatures["serving_text"]
    got = fn(text=tf.constant(list(texts[:4])))["probabilities"].numpy()
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(model(tokens)), atol=1e-5)


# ----------------------------------------------------------------- quantization


def test_x86_int8_onnx_keeps_every_op_in_int8_only_in_convolution_graphs(tmp_path):
    for name, kwargs, expected in (("resnet8", {"input_shape": (16, 16, 3), "classes": 3}, None),
                                   ("mlp_tiny", {}, onnx_format.WEIGHT_OPS)):
        path = str(tmp_path / f"{name}.onnx")
        with open(path, "wb") as f:
            f.write(onnx_format.convert(zoo.create_model(name, **kwargs)))
        assert onnx_format.default_op_types(path, "x86") == expected
        assert onnx_format.default_op_types(path, "arm") is None


def test_a_litert_file_the_default_interpreter_refuses_names_the_option_it_needs(tmp_path, monkeypatch, capsys):
    # XNNPACK refused the IMDB BiLSTM's unrolled int8 file; the manifest, the card, the usage snippet and
    # verify say which Interpreter option runs such a file, and verification runs it that way.
    def refuses_int8(flatbuffer):
        return "XNNPACK: failed to prepare (test)" if tflite.quantized(flatbuffer) else None

    monkeypatch.setattr(tflite, "default_interpreter_error", refuses_int8)
    model = zoo.mlp_tiny()
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype("float32")
    export_model(model, str(tmp_path), formats=("tflite",), quantizations=("fp32", "int8"), calibration_data=x,
                 eval_data=(x, model.predict(x, verbose=0).argmax(-1)), max_accuracy_drop=100, verbose=False)
    manifest = json.load(open(tmp_path / "zoo_export.json"))
    assert "interpreter_options" not in manifest["files"]["tflite_fp32"]
    entry = manifest["files"]["tflite_int8"]
    assert entry["interpreter_options"] == tflite.BUILTIN_KERNELS and "test" in entry["default_interpreter_error"]
    card = open(tmp_path / "MODEL_CARD.md").read()
    assert "`tflite_int8` needs `experimental_op_resolver_type=BUILTIN_WITHOUT_DEFAULT_DELEGATES`" in card
    assert "OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES" in tflite.TFLiteFormat().usage(entry, manifest, "x")
    capsys.readouterr()
    report = verify(str(tmp_path))
    assert report["passed"]
    assert "note: tflite_int8 was run with" in capsys.readouterr().out


def test_litert_files_carry_the_class_names_as_metadata_labels(tmp_path):
    # Android Studio / the LiteRT support library read the labels from the file itself (TFLITE_METADATA +
    # a packed labels.txt, index-aligned with the scores); the file still loads and verifies.
    model = zoo.mlp_tiny()
    x = np.random.default_rng(0).uniform(0, 1, (16, 8, 8, 1)).astype("float32")
    names = [f"digit {i}" for i in range(9)] + ["nine, \u00e9"]
    report = export_model(model, str(tmp_path), formats=("tflite",), quantizations=("fp32", "int8"),
                          calibration_data=x, eval_data=(x, model.predict(x, verbose=0).argmax(-1)),
                          class_names=names, max_accuracy_drop=100, verbose=False)
    assert report["passed"]
    manifest = json.load(open(tmp_path / "zoo_export.json"))
    for key in ("tflite_fp32", "tflite_int8"):
        entry = manifest["files"][key]
        assert entry["metadata"] == {"name": "TFLITE_METADATA", "packed_files": ["labels.txt"]}
        info, packed = litert_metadata.read(open(tmp_path / entry["path"], "rb").read())
        assert packed["labels.txt"].decode().splitlines() == names
        assert info.name.decode() == "mlp_tiny" and info.minParserVersion.decode() == "1.0.0"
        scores = [t for t in info.subgraphMetadata[0].outputTensorMetadata if t.name.decode() == "probabilities"]
        assert scores[0].associatedFiles[0].name.decode() == "labels.txt"
        assert scores[0].associatedFiles[0].type == litert_metadata.meta.AssociatedFileType.TENSOR_AXIS_LABELS


def test_int8_agrees_with_float_on_real_digits(tmp_path):
    data = pipelines.digits()
    result = zoo.train.fit(lambda: zoo.mlp_tiny(), data, config=zoo.train.TrainConfig(
        epochs=15, batch_size=32, learning_rate=3e-3, verbose=0))
    calibration = np.concatenate([x.numpy() for x, _ in data.batches("train", 64, training=False)])[:300]
    test_x, test_y = (np.concatenate(a) for a in zip(*[(x.numpy(), y.numpy())
                                                       for x, y in data.batches("test", 64)]))
    report = export_model(result.model, str(tmp_path), formats=("tflite", "onnx"), quantizations=("int8",),
                          calibration_data=calibration, eval_data=(test_x, test_y), verbose=False)
    rows = {r["file"]: r for r in report["results"]}
    for key in ("tflite_int8", "onnx_int8"):  # LiteRT and ONNX int8, calibrated on the same examples
        row = rows[key]
        assert row["quantization"] == "int8" and row["agreement"] >= 0.98, row
        assert -row["accuracy_delta"] <= 0.01 and row["passed"], row
    ops = tflite.op_names(open(tmp_path / "mlp_tiny.int8.tflite", "rb").read())
    assert "FULLY_CONNECTED" in ops
    import onnx

    graph = onnx.load(str(tmp_path / "mlp_tiny.int8.onnx")).graph
    initializers = {i.name: i.data_type for i in graph.initializer}
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.node}  # static QDQ
    assert onnx.TensorProto.INT8 in initializers.values()  # int8 weights stored
    # x86 (the default): unsigned 8-bit activations, ONNX Runtime's fast x86 kernels; ARM: signed
    zero_points = {i.name: i.data_type for i in graph.initializer if "zero_point" in i.name}
    manifest = json.load(open(tmp_path / "zoo_export.json"))
    assert manifest["files"]["onnx_int8"]["target"] == "x86" and manifest["files"]["onnx_int8"]["activations"] == \
        "QUInt8"
    assert onnx.TensorProto.UINT8 in zero_points.values()
    # x86, a graph without convolutions: only the weight ops in int8 (ORT's element-wise integer kernels
    # are slower than float there); recorded in the manifest.
    assert manifest["files"]["onnx_int8"]["quantized_ops"] == list(onnx_format.WEIGHT_OPS)
    assert not {"QLinearSoftmax", "QLinearAdd"} & {n.op_type for n in onnx.load(
        str(tmp_path / "mlp_tiny.int8.onnx")).graph.node}
    export_model(result.model, str(tmp_path / "arm"), formats=("onnx",), quantizations=("int8",),
                 calibration_data=calibration, eval_data=(test_x, test_y), verbose=False, onnx_target="arm")
    graph = onnx.load(str(tmp_path / "arm" / "mlp_tiny.int8.onnx")).graph
    assert onnx.TensorProto.UINT8 not in {i.data_type for i in graph.initializer if "zero_point" in i.name}
    assert "quantized_ops" not in json.load(open(tmp_path / "arm" / "zoo_export.json"))["files"]["onnx_int8"]
    with pytest.raises(ExportError, match="`onnx_target` is the CPU family"):
        export_model(result.model, str(tmp_path / "bad"), formats=("onnx",), onnx_target="risc", verbose=False)
    # int8 input/output tensors.
    report = export_model(result.model, str(tmp_path / "io"), formats=("tflite",), quantizations=("int8",),
                          calibration_data=calibration, eval_data=(test_x, test_y), int8_io=True, verbose=False)
    interp = tflite.interpreter(model_path=str(tmp_path / "io" / "mlp_tiny.int8.tflite"))
    assert interp.get_input_details()[0]["dtype"] == np.int8
    assert report["results"][0]["agreement"] >= 0.97
    # The accuracy budget: calibrated on inputs a thousand times too small, int8 clips every real input
    # and loses far more than a point; the export fails naming the drop, and writes nothing.
    with pytest.raises(ExportError, match=r"Accuracy budget exceeded on \d+ labelled examples: tflite_int8 loses "
                                          r"\d+\.\d\d points .*the budget is 1 point.*--max-accuracy-drop \d"):
        export_model(result.model, str(tmp_path / "budget"), formats=("tflite",), quantizations=("int8",),
                     calibration_data=calibration / 1000, eval_data=(test_x, test_y), verbose=False)
    assert [f for f in os.listdir(tmp_path / "budget") if f != ".zoo-export.lock"] == []
    relaxed = export_model(result.model, str(tmp_path / "budget"), formats=("tflite",), quantizations=("int8",),
                           calibration_data=calibration / 1000, eval_data=(test_x, test_y), max_accuracy_drop=100,
                           verbose=False)
    assert -relaxed["results"][0]["accuracy_delta"] > 0.01  # written, with its drop in the report
    assert (tmp_path / "budget" / "mlp_tiny.int8.tflite").exists()
    # A relaxed budget is the contract verification keeps: the file passes on its accuracy drop, even
    # where its argmax agreement is below what unlabelled verification asks.
    assert relaxed["passed"] and relaxed["results"][0]["criterion"] == "accuracy drop <= 100 points"
    # ONNX: a fully quantized file over the budget is replaced by one with only the weight ops in int8
    # when that loses less (here the full file is the badly calibrated one; the narrow one is calibrated
    # on real digits, so it keeps the float accuracy).
    float_path = str(tmp_path / "mlp_tiny.onnx")
    signature = common.signature_of(result.model, name="mlp_tiny")
    name = signature.input_names[0]
    bad = onnx_format.quantize_int8(float_path, {name: calibration / 1000})
    options = {"eval_inputs": {name: test_x}, "eval_labels": test_y, "max_accuracy_drop": 1.0}
    chosen, op_types = onnx_format._within_budget(float_path, bad, signature, {name: calibration}, options)
    assert op_types == onnx_format.WEIGHT_OPS and chosen != bad
    float_pred = onnx_format.run(onnx_format.session(float_path), {name: test_x}).argmax(-1)
    narrow_pred = onnx_format.run(onnx_format.session(chosen), {name: test_x}).argmax(-1)
    assert abs(np.mean(narrow_pred == test_y) - np.mean(float_pred == test_y)) <= 0.01
    good = onnx_format.quantize_int8(float_path, {name: calibration})  # within the budget: kept as it is
    assert onnx_format._within_budget(float_path, good, signature, {name: calibration}, options) == (good, None)
    # LiteRT: over the budget, op types go back to float (read from the file: their outputs are float32)
    # until a variant is within the budget; at most every op but the weight ops.
    frozen = tflite._frozen_function(result.model, tflite.tflite_specs(result.model, signature), signature)
    bad = tflite.convert(result.model, quantization="int8", representative_inputs=[calibration / 1000],
                         signature=signature, frozen=frozen)
    chosen, float_ops = tflite._within_budget(bad, result.model, signature, frozen, [calibration], options)
    assert float_ops and chosen != bad
    assert np.mean(tflite.run(tflite.interpreter(model_content=chosen), {name: test_x}).argmax(-1) == test_y) >= \
        np.mean(float_pred == test_y) - 0.01
    present = set(tflite.op_names(bad))
    weights_only = sorted(present - set(tflite.WEIGHT_OPS) - {"QUANTIZE", "DEQUANTIZE"})
    flat = tflite.convert(result.model, quantization="int8", representative_inputs=[calibration],
                          signature=signature, frozen=frozen, float_ops=weights_only)
    interp = tflite.interpreter(model_content=flat)
    dtypes = {t["index"]: t["dtype"] for t in interp.get_tensor_details()}
    outputs = {}
    for op in interp._get_ops_details():
        outputs.setdefault(op["op_name"], set()).update(dtypes[i] for i in op["outputs"])
    assert "SOFTMAX" in weights_only and outputs["SOFTMAX"] == {np.float32}
    assert outputs["FULLY_CONNECTED"] == {np.int8}  # int8 weights and activations


@pytest.mark.parametrize("padding", ["post", "pre"])
def test_unrolled_copy_of_a_bidirectional_lstm_matches_it_on_padded_tokens(padding):
    # The int8 LiteRT file of a recurrent model is calibrated on this copy: it must compute what the model
    # does, padding included (Keras' unrolled backward pass zeroed real steps: `unrolled_backward_mask_fix`).
    model, rng = zoo.create_model("lstm_classifier_tiny"), np.random.default_rng(0)
    tokens = rng.integers(1, 50, (32, 12)).astype("int32")
    for row, n in zip(tokens, rng.integers(3, 12, 32)):
        row[n:] = 0
        if padding == "pre":
            row[:] = np.roll(row, 12 - n)
    specs = common.input_specs(model, sequence_length=12)
    with common.unrolled_backward_mask_fix():
        unrolled = tflite._frozen_function(common.unrolled_copy(model, specs), specs,
                                           common.signature_of(model, name="m", sequence_length=12))
    np.testing.assert_allclose(unrolled(tf.constant(tokens))["probabilities"].numpy(),
                               model.predict(tokens, verbose=0), atol=1e-5)
    graph = unrolled.graph.as_graph_def()  # the signature calls the frozen function: look inside it too
    ops = [n.op for n in graph.node] + [n.op for f in graph.library.function for n in f.node_def]
    assert "MatMul" in ops and not {"While", "StatelessWhile", "NextIteration"} & set(ops)  # no time loop


def test_mixed_precision_model_exports_from_a_float32_copy(tmp_path):
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = zoo.transformer_tiny()
    keras.config.set_dtype_policy("float32")
    tokens = _inputs(model)[0]
    report = export_model(model, str(tmp_path), formats=("tflite", "onnx"), quantizations=("fp32",),
                          eval_data=tokens, verbose=False)
    copy = keras.saving.load_model(str(tmp_path / "model.keras"))
    assert {l.dtype_policy.name for l in copy.layers} == {"float32"}
    bf16 = keras.ops.convert_to_numpy(model(tokens, training=False)).astype("float32")
    fp32 = keras.ops.convert_to_numpy(copy(tokens, training=False))
    np.testing.assert_allclose(fp32, bf16, atol=0.05)  # same weights, bf16 rounding apart
    assert report["passed"]


# ----------------------------------------------------------------- bad input


def test_bad_export_requests_raise_clear_errors(tmp_path):
    model = zoo.mlp_tiny()
    with pytest.raises(ExportError, match="Unknown export format.*'savedmodel'"):
        export_model(model, str(tmp_path / "a"), formats=("savedmodel",))
    with pytest.raises(ExportError, match="Unknown quantization"):
        export_model(model, str(tmp_path / "a"), quantizations=("int4",))
    with pytest.raises(ExportError, match="calibration_data"):
        export_model(model, str(tmp_path / "a"), quantizations=("int8",))
    with pytest.raises(ExportError, match="max_accuracy_drop` is in accuracy points"):
        export_model(model, str(tmp_path / "a"), max_accuracy_drop=-1)

    class Unbuilt(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ExportError, match="never built"):
        export_model(Unbuilt(), str(tmp_path / "b"))
    export_model(model, str(tmp_path / "c"), formats=("onnx",), verbose=False)
    with pytest.raises(ExportError, match="already holds.*overwrite=True"):
        export_model(model, str(tmp_path / "c"), formats=("onnx",), verbose=False)
    export_model(model, str(tmp_path / "c"), formats=("onnx",), overwrite=True, verbose=False)
    with pytest.raises(ExportError, match="shape"):
        export_model(model, str(tmp_path / "d"), eval_data=np.ones((2, 9, 9, 1), "float32"))


# ----------------------------------------------------------------- verify + CLI


def test_verify_reruns_and_notices_changed_files(tmp_path):
    model = zoo.mlp_tiny()
    export_model(model, str(tmp_path), formats=("tflite", "onnx"), quantizations=("fp32",), verbose=False)
    report = verify(str(tmp_path), verbose=False)
    assert report["passed"] and report["changed_since_export"] == []
    # Swap the ONNX file for another model's: verify must fail it.
    other = zoo.mlp_tiny()  # different random init
    open(tmp_path / "mlp_tiny.onnx", "wb").write(onnx_format.convert(other))
    report = verify(str(tmp_path), verbose=False)
    assert not report["passed"] and report["changed_since_export"] == ["onnx"]
    with pytest.raises(ExportError, match="not a zoo export folder"):
        verify(str(tmp_path / "nowhere"))


def test_cli_export_of_a_run_folder_and_verify(tmp_path, capsys):
    from app import cli

    run = str(tmp_path / "run")
    assert cli.main(["train", "mlp_tiny", "--epochs", "8", "--lr", "0.003", "--batch-size", "32",
                     "--out", run, "--quiet"]) == 0
    out = str(tmp_path / "exp")
    assert cli.main(["export", run, "--out", out, "--quantize", "fp32,int8"]) == 0
    printed = capsys.readouterr().out
    assert "tflite_int8" in printed and "all files passed" in printed
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    assert manifest["labels"] == [str(i) for i in range(10)]
    assert manifest["preprocessing"]["scale"] == pytest.approx(1 / 16)
    assert cli.main(["verify", out]) == 0
    assert cli.main(["export", run, "--out", out, "--formats", "onnx"]) == 2
    assert "already holds" in capsys.readouterr().err


def test_cli_quickstart_runs_offline_and_prints_its_table(tmp_path, capsys):
    from app import cli

    assert cli.main(["quickstart", "--out", str(tmp_path / "qs"), "--epochs", "10", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "all files passed" in printed
    for key in ("saved_model", "tflite_fp32", "tflite_int8", "onnx"):
        assert key in printed
    report = json.load(open(tmp_path / "qs" / "export" / "report.json"))
    assert report["passed"] and report["results"][0]["keras_accuracy"] > 0.85


def test_class_names_are_names_and_labels_is_their_deprecated_alias(tmp_path):
    model = zoo.mlp_tiny(classes=3)
    x = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")
    with pytest.raises(ExportError, match="class_names.*list of strings.*array of shape \\(8,\\).*eval_data"):
        export_model(model, str(tmp_path / "a"), formats=("onnx",), class_names=np.arange(8), eval_data=x,
                     verbose=False)
    with pytest.warns(DeprecationWarning, match="class_names"):
        export_model(model, str(tmp_path / "b"), formats=("onnx",), labels=["a", "b", "c"], eval_data=x,
                     verbose=False)
    manifest = json.load(open(os.path.join(str(tmp_path / "b"), "zoo_export.json")))
    assert manifest["labels"] == ["a", "b", "c"]


def test_a_regressor_file_over_the_budget_is_named_with_its_rmse_increase():
    from export.exporter import _check_budget

    rows = [{"file": "tflite_fp32", "quantization": "fp32", "rmse_increase": 0.0, "keras_rmse": 300.0, "rmse": 300.0},
            {"file": "tflite_int8", "quantization": "int8", "rmse_increase": 0.0481, "keras_rmse": 300.0,
             "rmse": 314.43},
            {"file": "onnx_int8", "quantization": "int8", "rmse_increase": 0.004, "keras_rmse": 300.0, "rmse": 301.2}]
    with pytest.raises(ExportError, match=r"Accuracy budget exceeded on 56 labelled examples: tflite_int8 RMSE "
                                          r"\+4\.81% \(300 -> 314\.4\); the budget is 1% of the RMSE\. Nothing was "
                                          r"written\..*--max-accuracy-drop 4\.9"):
        _check_budget({"examples": 56, "results": rows}, 1.0)
    _check_budget({"examples": 56, "results": rows}, 5.0)  # within a 5% budget: no error


@pytest.mark.parametrize("name", [n for n in TINY if zoo.get_spec(n).task != "seq2seq"])
def test_predict_gives_the_same_answer_through_every_runtime(name, exports):
    """`Predictor` on one export, through each file and Keras: float files equal Keras within 1e-4; reduced-precision
    files (untrained weights here: their agreement is checked on real data in test_predict.py) give exactly what
    their runner gives."""
    from export import Predictor
    from export.formats import FORMATS

    model, out, _, x = exports(name)
    if len(model.inputs) != 1:
        pytest.skip("one input")
    x = x[0] if isinstance(x, list) else next(iter(x.values()))
    want = common.predict_in_chunks(model, [x])
    manifest = json.load(open(os.path.join(out, "zoo_export.json")))
    for runtime in ["keras", *manifest["files"]]:
        got = Predictor(out, runtime=runtime)._outputs(x)
        entry = manifest["files"].get(runtime, {})
        if entry.get("quantization", "fp32") == "fp32":
            np.testing.assert_allclose(got, want, atol=1e-4, err_msg=runtime)
        else:
            run = FORMATS[entry["format"]].runner(entry, out)[0]
            direct = np.concatenate([run({manifest["inputs"][0]["name"]: x[i:i + 1]}) for i in range(len(x))])
            np.testing.assert_allclose(got, direct, atol=1e-6, err_msg=runtime)
    assert Predictor(out).runtime in manifest["files"]  # the fastest verified file by default


def test_rest_requests_take_one_array_and_send_image_bytes_as_b64():
    import base64

    model = zoo.mlp_tiny()
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    assert len(sm.rest_request(model, x)["instances"]) == 3  # one array: three examples, not eight rows
    assert sm.rest_request(model, x) == sm.rest_request(model, [x])
    png = tf.io.encode_png(np.zeros((8, 8, 1), "uint8")).numpy()
    body = sm.rest_request(model, [png, png], signature="serving_bytes")
    assert body["signature_name"] == "serving_bytes" and base64.b64decode(body["instances"][0]["b64"]) == png
    with pytest.raises(ValueError, match="serving_bytes takes the encoded image files"):
        sm.rest_request(model, x, signature="serving_bytes")
