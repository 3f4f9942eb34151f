"""SavedModel for TF Serving: `<out>/<name>/<version>/`, atomically.

Signatures:
* `serving_default`: named model inputs (`images`, `tokens`, ...) ->
  `probabilities` (+ `class_ids`) for classifiers, `forecast`/`outputs` else.
* `serving_bytes` (image models): encoded JPEG/PNG strings -> the same outputs,
  with the training preprocessing (decode, resize, rescale) inside the graph.
* `serving_text` (text models given their vectorizer): raw strings.
* `serving_features` (tabular models): one `(batch,)` tensor per raw column (float numeric,
  string categorical), encoded in the graph as in training (`pipelines.tabular_encoder`).

`assets.extra/tf_serving_warmup_requests` holds PredictionLog records (built
with the tensorflow-serving-api protos) that TF Serving replays at load time.
The version folder is written under a dot-prefixed temporary name (TF
Serving ignores those, `pipelines.files.atomic_path`) and renamed into place only
when complete.
"""

import os
import re

import keras
import numpy as np
import tensorflow as tf

from export import common
from export.formats import Format, Planned, register_format
from pipelines import files


def next_version(model_dir):
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(d) for d in os.listdir(model_dir) if re.fullmatch(r"\d+", d)]
    return max(versions, default=0) + 1


def _finite(args, name):
    """The float inputs, checked finite: a NaN or Inf input would otherwise return an ordinary-looking class."""
    return [tf.debugging.assert_all_finite(a, f"{name}: an input holds NaN or Inf; send finite numbers")
            if a.dtype.is_floating else a for a in args]


def _add_serving_bytes(archive, model, spec, preprocessing, max_pixels, outputs):
    """`serving_bytes`: encoded images -> decoded, resized and rescaled as in training -> the model."""
    from pipelines.image import encoded_pixels

    height, width, channels = spec.shape[1:]
    height, width = preprocessing.get("image_size", [height, width])
    # Encoded images are 8-bit: 0..255 maps to the [0, 1] the model was trained on, whatever the
    # dataset's own pixel range was (`scale` is 1/16 for the 0..16 digits, 1/255 for MNIST/CIFAR).
    scale = 1 / 255

    def decode(image_bytes):
        too_big = tf.debugging.assert_less_equal(
            encoded_pixels(image_bytes), tf.constant(max_pixels, tf.int64),
            message=f"serving_bytes: an image declares more than {max_pixels:,} pixels (the export's "
                    "max_pixels; zoo export --max-pixels N raises it)")
        with tf.control_dependencies([too_big]):
            image = tf.io.decode_image(image_bytes, channels=channels, expand_animations=False)
        image = tf.image.resize(image, (height, width), antialias=True)
        return tf.round(tf.clip_by_value(image, 0, 255)) * scale  # as training: uint8, rescaled

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serving_bytes(image_bytes):
        images = tf.map_fn(decode, image_bytes, fn_output_signature=tf.TensorSpec(
            (height, width, channels), tf.float32))
        return outputs(model, model(images, training=False))

    archive.add_endpoint("serving_bytes", serving_bytes)


def build_archive(model, signature, *, preprocessing=None, vectorizer=None, labels=None, max_pixels=None):
    """A `keras.export.ExportArchive` with our signatures. A classifier with class names (`labels`)
    also returns `class_names`: each example's predicted class name, so TF Serving clients need no
    side file to read the answer. Float inputs must be finite; `serving_bytes` refuses an image that
    declares more than `max_pixels` pixels (default `pipelines.image.MAX_PIXELS`) before decoding it."""
    from pipelines.image import MAX_PIXELS

    max_pixels = int(max_pixels or MAX_PIXELS)
    archive = keras.export.ExportArchive()
    archive.track(model)
    specs = list(signature.specs)
    names = None
    if labels and signature.task.kind == "classification":
        names = tf.constant([str(label) for label in labels])

    def _outputs(model, y):
        outputs = signature.task.derived_outputs(model, y)
        if names is not None:
            ids = outputs[signature.task.output_names(model)[1]]
            outputs["class_names"] = tf.gather(names, ids)
        return outputs

    @tf.function(input_signature=specs)
    def serving_default(*args):
        args = _finite(args, "serving_default")
        return _outputs(model, common.call_model(model, common.truncate_tokens(args, signature)))

    archive.add_endpoint("serving_default", serving_default)
    preprocessing = preprocessing or {}
    if len(specs) == 1 and len(specs[0].shape) == 4 and preprocessing.get("type") == "rescale":
        _add_serving_bytes(archive, model, specs[0], preprocessing, max_pixels, _outputs)
    if vectorizer is not None:
        archive.track(vectorizer)

        from pipelines.text import vectorize

        length = preprocessing.get("sequence_length") or specs[0].shape[1]
        truncate = preprocessing.get("truncate", "post")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serving_text(text):
            tokens = vectorize(vectorizer, text, length, truncate)
            return _outputs(model, model(tokens, training=False))

        archive.add_endpoint("serving_text", serving_text)
    if preprocessing.get("type") == "tabular":
        from pipelines.sources.tabular_file import raw_feature_specs, tabular_encoder

        encode = tabular_encoder(preprocessing)
        for layer in encode.layers:  # their lookup tables and statistics travel in the SavedModel
            archive.track(layer)
        columns = preprocessing["columns"]

        @tf.function(input_signature=raw_feature_specs(preprocessing))
        def serving_features(*values):  # one (batch,) tensor per column: float numeric, string categorical
            checks = [tf.debugging.Assert(~tf.reduce_any(tf.math.is_inf(v)), [  # NaN: a missing value; Inf: refused
                f"serving_features: column {c!r} holds Inf; send finite numbers (NaN for a missing value)"])
                for c, v in zip(columns, values) if v.dtype.is_floating]
            with tf.control_dependencies(checks):
                values = [tf.identity(v) for v in values]
            return _outputs(model, model(encode(dict(zip(columns, values))), training=False))

        archive.add_endpoint("serving_features", serving_features)
    return archive


def warmup_records(model, inputs, signature="serving_default", model_name="model"):
    """Serialized `PredictionLog` records for `assets.extra/tf_serving_warmup_requests`."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
    for name, value in zip(common.input_names(model), inputs):
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    return [log.SerializeToString()]


def export_saved_model(model, out_dir, *, name, version=None, preprocessing=None, vectorizer=None,
                       warmup_inputs=None, signature=None, labels=None, max_pixels=None, _before_rename=None):
    """Write `<out_dir>/<name>/<version>/` and return its path."""
    signature = signature or common.signature_of(model, name=name)
    model_dir = os.path.join(out_dir, name)
    os.makedirs(model_dir, exist_ok=True)
    version = next_version(model_dir) if version is None else int(version)
    final = os.path.join(model_dir, str(version))
    if os.path.exists(final):
        raise common.ExportError(f"{final!r} already exists; TF Serving versions are immutable. "
                                 "Leave version unset to take the next free number.")
    with files.atomic_path(final, directory=True) as tmp:
        target = os.path.join(tmp, "model")  # keras writes a new folder; it becomes the version's content
        build_archive(model, signature, preprocessing=preprocessing, vectorizer=vectorizer, labels=labels,
                      max_pixels=max_pixels).write_out(
            target, verbose=False)
        if warmup_inputs is not None:
            extra = os.path.join(target, "assets.extra")
            os.makedirs(extra, exist_ok=True)
            with tf.io.TFRecordWriter(os.path.join(extra, "tf_serving_warmup_requests")) as writer:
                for record in warmup_records(model, [x[:1] for x in warmup_inputs], model_name=name):
                    writer.write(record)
        if _before_rename is not None:  # failure injection for tests
            _before_rename(target)
        for entry in os.listdir(target):
            os.rename(os.path.join(target, entry), os.path.join(tmp, entry))
        os.rmdir(target)
    return final


def signatures(path):
    """`{signature: {"inputs": [...], "outputs": [...]}}` of a SavedModel folder."""
    loaded = tf.saved_model.load(path)
    return {k: {"inputs": sorted(f.structured_input_signature[1]), "outputs": sorted(f.structured_outputs)}
            for k, f in loaded.signatures.items()}


@register_format
class SavedModelFormat(Format):
    """TF Serving's SavedModel: `saved_model/<name>/<version>/`. A version folder is immutable (TF Serving
    loads each new one), so the exporter picks a free version before writing, and withholds the folder
    when verification fails."""

    name = "saved_model"
    order = 10
    publish_when_failed = False
    withheld_note = "The SavedModel version was not published (TF Serving would have loaded it)"

    def planned(self, model_name, quantizations):
        return [Planned("saved_model", os.path.join("saved_model", model_name), "fp32")]

    def prepare(self, out_dir, model_name, options):
        model_dir = os.path.join(out_dir, "saved_model", model_name)
        version = next_version(model_dir) if options.get("version") is None else int(options["version"])
        if os.path.exists(os.path.join(model_dir, str(version))):
            raise common.ExportError(f"{os.path.join(model_dir, str(version))!r} already exists; TF Serving "
                                     "versions are immutable. Leave version unset to take the next free number.")
        options["version"] = version

    def write(self, model, signature, out_dir, options):
        path = export_saved_model(
            model, os.path.join(out_dir, "saved_model"), name=signature.name, version=options.get("version"),
            preprocessing=options.get("preprocessing"), vectorizer=options.get("vectorizer"),
            warmup_inputs=options.get("warmup_inputs"), signature=signature, labels=options.get("labels"),
            max_pixels=options.get("max_pixels"))
        return {"saved_model": {"format": self.name, "path": os.path.relpath(path, out_dir),
                                "output": signature.output, "signatures": signatures(path)}}

    def raw_inputs(self, entry):
        raw = {"serving_bytes": "serving_bytes takes encoded images", "serving_text": "serving_text takes strings",
               "serving_features": "serving_features takes the raw columns"}
        found = [text for name, text in raw.items() if name in entry.get("signatures", {})]
        return "; ".join(found) or None

    def usage(self, entry, manifest, folder):
        model_dir = os.path.dirname(entry["path"])
        first = manifest["inputs"][0]
        return (f"```\ndocker run -p 8501:8501 -v \"$PWD/{folder}/{model_dir}:/models/{manifest['name']}\" "
                f"-e MODEL_NAME={manifest['name']} tensorflow/serving\n"
                f"curl -d '{{\"instances\": [...]}}' http://localhost:8501/v1/models/{manifest['name']}:predict"
                f"   # {first['name']}: {first['dtype']} {tuple(first['shape'][1:])} per instance\n```")

    def runner(self, entry, out_dir):
        """`(run(inputs) -> outputs, takes any batch)` for a file entry of the manifest."""
        fn = tf.saved_model.load(os.path.join(out_dir, entry["path"])).signatures["serving_default"]
        output = entry["output"]

        def run(inputs):
            return fn(**{k: tf.constant(v) for k, v in inputs.items()})[output].numpy()
        return run, True



def rest_request(model, inputs, signature="serving_default"):
    """The JSON body of `POST /v1/models/<name>:predict` (row format).

    `inputs`: a list with one batch array per model input (one array alone for a one-input model); for
    `signature="serving_bytes"` the encoded image files (bytes), sent as `{"b64": ...}` as TF Serving
    expects binary values; for `"serving_text"` the strings."""
    import base64

    if signature in ("serving_bytes", "serving_text"):
        items = [inputs] if isinstance(inputs, (bytes, str)) else list(inputs)
        if signature == "serving_bytes":
            if not all(isinstance(i, bytes) for i in items):
                raise ValueError("serving_bytes takes the encoded image files (bytes, e.g. open(path, 'rb').read()); "
                                 f"received {type(items[0]).__name__}. Pixels go to serving_default.")
            return {"signature_name": signature,
                    "instances": [{"b64": base64.b64encode(i).decode("ascii")} for i in items]}
        return {"signature_name": signature, "instances": [str(i) for i in items]}
    names = common.input_names(model)
    if isinstance(inputs, np.ndarray) and len(names) == 1:  # one batch array for a one-input model
        inputs = [inputs]
    if not isinstance(inputs, (list, tuple)) or len(inputs) != len(names):
        raise ValueError(f"`inputs` is a list with one batch array per model input ({names}); received "
                         f"{type(inputs).__name__} of length {len(inputs) if hasattr(inputs, '__len__') else '?'}.")
    instances = []
    for i in range(len(inputs[0])):
        if len(names) == 1:
            instances.append(np.asarray(inputs[0][i]).tolist())
        else:
            instances.append({n: np.asarray(x[i]).tolist() for n, x in zip(names, inputs)})
    body = {"instances": instances}
    if signature != "serving_default":
        body["signature_name"] = signature
    return body


def grpc_request(model, inputs, *, model_name, signature="serving_default"):
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    for name, value in zip(common.input_names(model), inputs):
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def run(path, inputs, signature="serving_default", loaded=None):
    """Run a SavedModel signature on `{input name: array}`; returns `{output: array}`."""
    loaded = loaded or tf.saved_model.load(path)
    fn = loaded.signatures[signature]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}
