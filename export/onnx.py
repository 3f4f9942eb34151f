"""ONNX through tf2onnx, with a dynamic batch (and sequence length for token
inputs), named inputs/outputs and metadata (`zoo.*` properties)."""

import json
import os
import tempfile

import numpy as np
import tensorflow as tf

from export import common
from export.formats import Format, Planned, register_format

DEFAULT_OPSET = 17


def _patch_tf2onnx():
    try:  # tf2onnx 1.17 still uses np.object & co under NumPy 2; Keras ships the fix.
        from keras.src.export.tf2onnx_lib import patch_tf2onnx

        patch_tf2onnx()
    except ImportError:
        pass


def convert(model, *, opset=DEFAULT_OPSET, metadata=None, signature=None):
    """ONNX model bytes."""
    import onnx
    import tf2onnx

    if not isinstance(opset, int) or not 13 <= opset <= 21:
        raise common.ExportError(f"`opset` must be an integer in [13, 21]. Received: opset={opset!r}")
    _patch_tf2onnx()
    signature = signature or common.signature_of(model, name=model.name)
    specs = list(signature.specs)
    out_name = signature.output

    @tf.function(input_signature=specs)
    def fn(*args):
        return {out_name: common.call_model(model, common.truncate_tokens(args, signature))}

    with tempfile.TemporaryDirectory(prefix="zoo-onnx-") as folder:
        path = os.path.join(folder, "model.onnx")
        try:
            tf2onnx.convert.from_function(fn, input_signature=specs, opset=opset, output_path=path)
        except Exception as err:
            raise common.ExportError(f"ONNX conversion of {model.name!r} (opset {opset}) failed: "
                                     + " ".join(str(err).split())[:1500]) from err
        proto = onnx.load(path)
    _rename_io(proto, [s.name for s in specs], [out_name])
    if "class_ids" in signature.outputs:
        _add_class_ids(proto, out_name)
    _name_free_dimensions(proto)
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key = f"zoo.{key}"
        entry.value = value if isinstance(value, str) else json.dumps(value)
    proto.producer_name = "zoo (tf2onnx)"
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


# The ops that hold weights: where int8 saves the size and the time. Not Gather (embedding tables): an int8
# table took the IMDB Transformer's x86 file from 10.7 to 3.0 MB, at the same speed with one thread but
# 1.01-1.24x its float file with two (0.87-0.94x without), measured side by side on the AVX-512 VNNI EPYC.
WEIGHT_OPS = ("MatMul", "Gemm", "Conv")
CHUNK = 256  # examples per ONNX Runtime call when scoring a file


TARGETS = {  # the integer kernels ONNX Runtime has a fast path for on each CPU family (its quantization guide)
    # x86-64: unsigned 8-bit activations x signed 8-bit weights (VPMADDUBSW / VNNI VPDPBUSD). S8 activations
    # there fall back to slow kernels: resnet50 int8 ran at 0.96x fp32 with S8, 0.37x with U8 (one run, this
    # project's EPYC with VNNI). Weights in 7 bits (`reduce_range`): CPUs without VNNI sum u8 x s8 pairs in
    # saturating 16 bits; 7-bit weights cannot saturate, and a file is served on CPUs the exporter cannot know.
    "x86": {"activation": "QUInt8", "reduce_range": True},
    # ARM (NEON/SDOT): signed activations and full 8-bit weights.
    "arm": {"activation": "QInt8", "reduce_range": False},
}


def default_op_types(float_path, target):
    """The op types the `target`'s int8 file quantizes first (None: every op ONNX Runtime can quantize).

    On x86, ONNX Runtime's element-wise integer kernels (QLinearAdd, QLinearMul, QLinearSoftmax) are slower
    than the float ones, so they pay only where they keep a convolution's output in int8 until the next
    convolution. Measured side by side (batch 1, AVX-512 VNNI EPYC, interleaved rounds; RESULTS.md): the
    IMDB Transformer's file ran at 1.22x its float file with every op in int8 and 0.80x with only its
    MatMul/Gemm in int8 (one thread; 1.57x and 0.96x with two); ResNet-20 at 0.45x with every op and 0.50x
    with only its Conv/Gemm, resnet50 at 0.30x and 0.31x (one-off profiles). So x86 files of graphs without
    a convolution quantize the weight ops only; ARM's integer kernels were not measured here, and its files
    keep every op."""
    if target != "x86":
        return None
    import onnx

    ops = {node.op_type for node in onnx.load(float_path, load_external_data=False).graph.node}
    return None if ops & {"Conv", "ConvTranspose"} else WEIGHT_OPS


def _target(options):
    """The export's ONNX int8 target (`TARGETS`), x86 unless it says."""
    return options.get("onnx_target") or "x86"


def quantize_int8(float_path, calibration, *, per_channel=True, op_types=None, target="x86"):
    """Static int8 ONNX (QDQ format: QuantizeLinear/DequantizeLinear pairs around int8 MatMul/Conv/Gemm/
    Gather, which ONNX Runtime fuses into integer kernels), activation ranges calibrated with MinMax on
    `calibration` (`{input name: array}`, the same examples as the LiteRT int8 file); signed weights per
    channel, activations and weight range as the `target` CPU family's fast kernels take them (`TARGETS`).
    `op_types` limits quantization to those op types (e.g. `WEIGHT_OPS`); the rest stay float."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            n = len(next(iter(calibration.values())))
            self._batches = iter([{k: np.asarray(v[i:i + 32]) for k, v in calibration.items()}
                                  for i in range(0, n, 32)])

        def get_next(self):
            return next(self._batches, None)

    with tempfile.TemporaryDirectory(prefix="zoo-onnx-int8-") as folder:
        prepared, quantized = os.path.join(folder, "prepared.onnx"), os.path.join(folder, "int8.onnx")
        try:
            quant_pre_process(float_path, prepared, skip_symbolic_shape=True)
        except Exception:  # shape inference is an optimisation, not a requirement
            prepared = float_path
        try:
            quantize_static(prepared, quantized, Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=per_channel, reduce_range=TARGETS[target]["reduce_range"],
                            activation_type=getattr(QuantType, TARGETS[target]["activation"]),
                            weight_type=QuantType.QInt8,
                            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True,
                                           "TensorQuantOverrides": _per_tensor_weights(float_path)},
                            op_types_to_quantize=list(op_types) if op_types else None)
        except Exception as err:
            raise common.ExportError("ONNX int8 quantization (onnxruntime.quantization.quantize_static) failed: "
                                     + " ".join(str(err).split())[:1500]) from err
        proto = onnx.load(quantized)
    if TARGETS[target]["reduce_range"]:
        wide = {name: peak for name, peak in weight_peaks(proto).items() if peak > SATURATION_FREE}
        if wide:  # the file would answer differently on AVX2-only CPUs than where it is verified (export.cpu)
            raise common.ExportError(
                f"ONNX Runtime's quantizer ignored reduce_range: the int8 weights {sorted(wide)[:5]} reach |q| = "
                f"{max(wide.values())} > {SATURATION_FREE}, which saturates on x86 CPUs without VNNI. Pin "
                "onnxruntime to a version that honours it, or export with onnx_target='arm'.")
    return proto.SerializeToString()


# The largest int8 weight magnitude x86 CPUs without VNNI sum without saturating: VPMADDUBSW adds two u8 x s8
# products in 16 bits, and 2 x 255 x 64 = 32,640 <= 32,767 (2 x 255 x 127 is not). `reduce_range` gives it.
SATURATION_FREE = 64


def weight_peaks(proto):
    """`{int8 weight initializer: max |q|}` of the weights that integer MatMul/Gemm/Conv kernels multiply
    (the int8 input of a DequantizeLinear that feeds a weight op's second input)."""
    from onnx import numpy_helper

    graph = proto.graph
    initializers = {i.name: i for i in graph.initializer}
    weight_inputs = {node.input[1] for node in graph.node if node.op_type in WEIGHT_OPS and len(node.input) > 1}
    peaks = {}
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.output[0] in weight_inputs and node.input[0] in initializers:
            q = numpy_helper.to_array(initializers[node.input[0]])
            if q.dtype == np.int8 and q.size:
                peaks[node.input[0]] = int(np.abs(q.astype(np.int16)).max())
    return peaks


def _per_tensor_weights(float_path):
    """`TensorQuantOverrides` that quantize the weights of batched MatMuls (rank > 2, e.g. the tabular MLP's
    per-feature embeddings) per tensor: per channel, ONNX Runtime puts their scales on axis 1 -- the summed
    axis -- and onnxruntime-web's integer MatMul refuses the file ("weight zero point must be a scalar...")."""
    import onnx

    graph = onnx.load(float_path, load_external_data=False).graph
    ranks = {i.name: len(i.dims) for i in graph.initializer}
    return {node.input[1]: [{"symmetric": True}] for node in graph.node
            if node.op_type == "MatMul" and ranks.get(node.input[1], 0) > 2}


def _name_free_dimensions(proto):
    """tf2onnx names free dimensions `unk__236`; a runtime user reads names: `batch` first, then `tokens` in
    integer (token id) tensors, `dim_i` elsewhere."""
    import onnx

    integer = (onnx.TensorProto.INT32, onnx.TensorProto.INT64)
    for tensor in list(proto.graph.input) + list(proto.graph.output):
        tensor_type = tensor.type.tensor_type
        for i, dim in enumerate(tensor_type.shape.dim):
            if not dim.HasField("dim_value"):
                dim.dim_param = "batch" if i == 0 else "tokens" if tensor_type.elem_type in integer else f"dim_{i}"


def _add_class_ids(proto, scores):
    """A second output `class_ids` (int32, `(batch,)`): the argmax of `scores`, as the SavedModel's
    signature returns it, so the file's outputs are the manifest's `outputs`."""
    import onnx
    from onnx import TensorProto, helper

    proto.graph.node.extend([
        helper.make_node("ArgMax", [scores], ["class_ids_int64"], name="class_ids_argmax", axis=-1, keepdims=0),
        helper.make_node("Cast", ["class_ids_int64"], ["class_ids"], name="class_ids_cast", to=TensorProto.INT32)])
    batch = proto.graph.output[0].type.tensor_type.shape.dim[0]
    output = helper.make_tensor_value_info("class_ids", TensorProto.INT32, [None])
    output.type.tensor_type.shape.dim[0].CopyFrom(batch)
    proto.graph.output.append(output)
    onnx.checker.check_model(proto)


def _rename_io(proto, input_names, output_names):
    """tf2onnx names tensors `images:0`/`Identity:0`; serve them by clean names."""
    renames = {}
    for tensor, name in zip(proto.graph.input, input_names):
        renames[tensor.name] = name
    for tensor, name in zip(proto.graph.output, output_names):
        renames[tensor.name] = name
    for tensor in list(proto.graph.input) + list(proto.graph.output):
        tensor.name = renames.get(tensor.name, tensor.name)
    for node in proto.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
        node.output[:] = [renames.get(n, n) for n in node.output]


def session(path_or_bytes, threads=2):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(path_or_bytes, options, providers=["CPUExecutionProvider"])


def run(sess, inputs):
    feeds = {}
    for i in sess.get_inputs():
        value = np.asarray(inputs[i.name])
        feeds[i.name] = value.astype(np.int32 if "int32" in i.type else np.int64 if "int64" in i.type
                                     else np.float32)
    return sess.run([sess.get_outputs()[0].name], feeds)[0]  # the model's output (not the derived class_ids)


def _within_budget(float_path, flat, signature, calibration, options, search_examples=1000):
    """`(int8 file, op types quantized or None for all)`: the fully quantized file if it keeps accuracy
    within the export's budget on the labelled evaluation examples, else the file with only the weight
    ops (`WEIGHT_OPS`) in int8 when it loses less. Measured on the IMDB Transformer (2,000 test reviews):
    all ops in int8 lost 2.95 points, MatMul/Gemm alone 0.0, agreeing with float on 99.8%."""
    labels, inputs = options.get("eval_labels"), options.get("eval_inputs")
    if labels is None or inputs is None or not common.has_budget(signature.task):
        return flat, None
    inputs = {n: np.asarray(inputs[n])[:search_examples] for n in signature.input_names}
    labels = np.asarray(labels)[:search_examples]

    def outputs(model):
        sess = session(model)
        return np.concatenate([run(sess, {n: v[i:i + CHUNK] for n, v in inputs.items()})
                               for i in range(0, len(labels), CHUNK)])

    reference, budget = outputs(float_path), options.get("max_accuracy_drop", 1.0) / 100

    def loss(model):  # accuracy lost (classifiers) or relative RMSE gained (regressors)
        return common.budget_loss(signature.task, labels, reference, outputs(model))

    full = loss(flat)
    if full <= budget:
        return flat, None
    narrow = quantize_int8(float_path, calibration, op_types=WEIGHT_OPS, target=_target(options))
    return (narrow, WEIGHT_OPS) if loss(narrow) < full else (flat, None)


@register_format
class OnnxFormat(Format):
    """ONNX `<name>.onnx` (dynamic batch and length), with `zoo.*` metadata, and with int8 a statically
    quantized `<name>.int8.onnx` (QDQ, calibrated on the calibration data)."""

    name = "onnx"
    order = 30
    quantizations = ("fp32", "int8")

    def planned(self, model_name, quantizations):
        return [Planned("onnx", f"{model_name}.onnx", "fp32")] + (
            [Planned("onnx_int8", f"{model_name}.int8.onnx", "int8")] if "int8" in quantizations else [])

    def check_options(self, options):
        opset = options.get("opset")
        if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or not 13 <= opset <= 21):
            raise common.ExportError(f"`opset` must be an integer in [13, 21]. Received: opset={opset!r}")
        if _target(options) not in TARGETS:
            raise common.ExportError(f"`onnx_target` is the CPU family the int8 ONNX file is made for, one of "
                                     f"{list(TARGETS)}. Received: onnx_target={options.get('onnx_target')!r}")

    def write(self, model, signature, out_dir, options):
        from pipelines.files import atomic_write

        opset = DEFAULT_OPSET if options.get("opset") is None else options["opset"]
        metadata = {"name": signature.name, "task": signature.task.name, "labels": options.get("labels") or [],
                    "preprocessing": options.get("preprocessing") or {}}
        calibration = options.get("calibration")
        planned = self.planned(signature.name, options.get("quantizations", ()) if calibration is not None else ())
        rel = planned[0].path
        atomic_write(os.path.join(out_dir, rel), convert(model, opset=opset, metadata=metadata, signature=signature))
        entries = {"onnx": {"format": self.name, "path": rel, "opset": opset}}
        if len(planned) > 1:
            rel8 = planned[1].path
            float_path, inputs = os.path.join(out_dir, rel), {n: calibration[n] for n in signature.input_names}
            # Files that take raw units (a forecaster's series, the log/scaling inside) keep that arithmetic in
            # float: int8 steps on passengers or prices are too coarse; the weights are int8 either way.
            raw_units = (options.get("preprocessing") or {}).get("units") == "series"
            target = _target(options)
            op_types = WEIGHT_OPS if raw_units else default_op_types(float_path, target)
            flat = quantize_int8(float_path, inputs, op_types=op_types, target=target)
            if op_types is None:  # every op in int8: kept only within the accuracy budget
                flat, op_types = _within_budget(float_path, flat, signature, inputs, options)
            atomic_write(os.path.join(out_dir, rel8), flat)
            entries["onnx_int8"] = {"format": self.name, "quantization": "int8", "path": rel8, "opset": opset,
                                    "target": target, "activations": TARGETS[target]["activation"],
                                    "reduce_range": TARGETS[target]["reduce_range"],
                                    **({"quantized_ops": list(op_types)} if op_types else {})}
        return entries

    def usage(self, entry, manifest, folder):
        first = manifest["inputs"][0]
        return ("```python\nimport onnxruntime as ort\n"
                f"session = ort.InferenceSession(\"{folder}/{entry['path']}\")\n"
                f"x = ...  # {first['name']}: {first['dtype']} {tuple(first['shape'])}, preprocessed as in training\n"
                f"({manifest['output']},) = session.run([\"{manifest['output']}\"], {{\"{first['name']}\": x}})\n```")

    def runner(self, entry, out_dir):
        sess = session(os.path.join(out_dir, entry["path"]))
        return (lambda inputs: run(sess, inputs)), True

