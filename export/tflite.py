"""TFLite / LiteRT: fp32, fp16, dynamic-range and full-integer int8.

Conversion goes through a SavedModel (`TFLiteConverter.from_keras_model` is
unreliable on Keras 3) and allows **builtin ops only** by default: a graph
that needs Flex (TF) ops fails here with the op names, not on the device.
Recurrent models are traced with a fixed batch of 1 (their dynamic-batch
graphs need `FlexTensorListReserve`; batch 1 gives builtin `WHILE`); token
inputs get a fixed sequence length. Every file has a `serving_default`
signature with the SavedModel's input and output names (`class_ids` too).
"""

import os
import re
import tempfile
import weakref

import numpy as np
import tensorflow as tf

from export import common, litert_metadata
from export.formats import Format, Planned, register_format
from pipelines.quiet import stderr_dropped

QUANTIZATIONS = ("fp32", "fp16", "dynamic", "int8")
SIGNATURE = "serving_default"  # the files' one signature, named as in the SavedModel


def _frozen_function(model, specs, signature):
    """The file's `serving_default` signature: the model's inference function with every variable folded into
    a constant (no VAR_HANDLE/READ_VARIABLE ops in the flatbuffer: they break int8 calibration, and nothing
    tied to Keras' variable tracking), under the SavedModel's input and output names (`images` ->
    `probabilities` + `class_ids`, ...), so that a LiteRT user calls `get_signature_runner()` without the
    manifest. Freezing renames the outputs (`Identity`): the named signature wraps the frozen call."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    @tf.function(input_signature=specs)
    def model_call(*args):
        return common.call_model(model, args)

    frozen = convert_variables_to_constants_v2(model_call.get_concrete_function())

    @tf.function(input_signature=specs)
    def serving_default(*args):
        (y,) = frozen(*args)
        return signature.task.derived_outputs(model, y)

    return serving_default.get_concrete_function()


def tflite_specs(model, signature):
    """Input specs of the LiteRT file: batch 1 for recurrent models, a fixed token length."""
    return common.input_specs(model, batch=1 if signature.recurrent else None,
                              sequence_length=signature.sequence_length)


def convert(model, *, quantization="fp32", representative_inputs=None, int8_io=False,
            allow_flex=False, signature=None, frozen=None, float_ops=()):
    """TFLite flatbuffer bytes of `model`. `frozen` is `_frozen_function(model, specs, signature)` when the
    caller converts several variants (tracing and freezing a large model costs more than converting it).
    `float_ops`: for int8, LiteRT op types (e.g. `("SOFTMAX",)`) kept in float (selective quantization)."""
    if quantization not in QUANTIZATIONS:
        raise common.ExportError(f"Unknown TFLite quantization. Allowed: {list(QUANTIZATIONS)}. "
                                 f"Received: quantization={quantization!r}")
    signature = signature or common.signature_of(model, name=model.name)
    specs = tflite_specs(model, signature)
    function = frozen or _frozen_function(model, specs, signature)
    with tempfile.TemporaryDirectory(prefix="zoo-tflite-") as folder:
        # The converter keeps a signature only from a SavedModel. Its own save of a concrete function fails on
        # graphs with custom gradients (the Transformer's) and then drops the signature without a word; the
        # frozen function has no gradients to save.
        tf.saved_model.save(tf.Module(), folder, signatures={SIGNATURE: function},
                            options=tf.saved_model.SaveOptions(experimental_custom_gradients=False))
        converter = tf.lite.TFLiteConverter.from_saved_model(folder, signature_keys=[SIGNATURE])
        representative = _configure(converter, quantization, representative_inputs, int8_io, allow_flex, specs)
        try:
            if quantization == "int8" and float_ops:
                flatbuffer = _selective(converter, representative, float_ops)
            else:
                flatbuffer = converter.convert()
        except Exception as err:  # the converter raises ConverterError and others
            message = str(err)
            flex = "Flex" in message or "Select TF" in message or "not supported" in message
            raise common.ExportError(
                f"TFLite conversion ({quantization}) of {model.name!r} failed"
                + (": the graph needs TF (Flex) ops that builtin-only LiteRT interpreters lack. "
                   "Pass allow_flex=True only if your runtime links the Flex delegate. "
                   if flex else ". ")
                + "Converter said: " + " ".join(message.split())[:1500]) from err
    flatbuffer = _short_tensor_names(flatbuffer)
    if not allow_flex:
        bad = non_builtin_ops(flatbuffer)
        if bad:
            raise common.ExportError(f"The TFLite model of {model.name!r} contains non-builtin ops {bad}.")
    if quantization == "int8" and not quantized(flatbuffer):
        raise common.ExportError(f"The int8 TFLite file of {model.name!r} came out with no int8 tensors (the "
                                 "converter fell back to float); it is not written under an int8 name. Check the "
                                 "calibration data (--calibration-size >= 1, real examples).")
    if SIGNATURE not in interpreter(model_content=flatbuffer).get_signature_list():
        raise common.ExportError(f"The TFLite file of {model.name!r} came out without its {SIGNATURE!r} signature.")
    return flatbuffer


def _short_tensor_names(flatbuffer):
    """The flatbuffer with each tensor named by the first of the TF ops fused into it (the converter joins all
    of their names with `;`). An unrolled recurrent int8 file has one tensor per op per time step: in the IMDB
    BiLSTM's (200 steps, both directions) 9.1 of its 14.1 MB were these names, and it became 6.1 MB, smaller
    than its float file (11.1 MB, a WHILE loop). Names are metadata: inputs, outputs and signatures (by index)
    and every computed value are unchanged."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    joined = [t for g in model.subgraphs for t in g.tensors if t.name and b";" in t.name]
    if not joined:
        return flatbuffer
    for tensor in joined:
        tensor.name = tensor.name.split(b";", 1)[0]
    builder = flatbuffers.Builder(len(flatbuffer) // 2 + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _configure(converter, quantization, representative_inputs, int8_io, allow_flex, specs):
    """Set the converter's quantization and op sets; returns the int8 representative dataset (or None)."""
    ops, representative = [tf.lite.OpsSet.TFLITE_BUILTINS], None
    if quantization == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        if representative_inputs is None:
            raise common.ExportError(
                "int8 quantization needs representative inputs (calibration data): pass "
                "calibration_data= (e.g. 100-500 training examples) or --calibration-data.")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        float_inputs = all(not s.dtype.is_integer for s in specs)
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] + (
            [] if float_inputs else [tf.lite.OpsSet.TFLITE_BUILTINS])
        calibration = [np.asarray(x) for x in representative_inputs]

        def representative():  # one example at a time fits fixed and dynamic batch
            for i in range(len(calibration[0])):
                yield [x[i:i + 1] for x in calibration]

        converter.representative_dataset = representative
        if int8_io and float_inputs:
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
    if allow_flex:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    return representative


def _selective(converter, representative, float_ops):
    """The int8 flatbuffer with the op types `float_ops` left in float (the converter's quantization
    debugger's denylist: those ops run their float builtin kernels between dequantize/quantize)."""
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(float_ops)))
    return debugger.get_nondebug_quantized_model()


def quantized(flatbuffer):
    """True when the flatbuffer holds int8 tensors (weights or activations)."""
    details = interpreter(model_content=flatbuffer).get_tensor_details()
    return any(d["dtype"] == np.int8 for d in details)


def _describe(specs):
    """`[{"name", "shape"}]` of a LiteRT file's inputs (None for a free dimension)."""
    return [{"name": s.name, "shape": [None if d is None else int(d) for d in s.shape]} for s in specs]


def _with_metadata(flat, signature, specs, options):
    """The file with LiteRT metadata (`export.litert_metadata`): names, class labels, image normalization,
    a text model's vocabulary, and the zoo's own entry (what `zoo predict FILE.tflite` reads)."""
    spec = signature.specs[0]
    image = len(signature.specs) == 1 and len(spec.shape) == 4 and spec.dtype.is_floating and spec.shape[-1] in (1, 3)
    classes = "class_ids" in signature.outputs
    return litert_metadata.add(
        flat, name=signature.name, description=f"A {signature.task.name.replace('_', ' ')} model exported by zoo.",
        scores_output=signature.output if classes else None, labels=(options.get("labels") or None) if classes else None,
        image_channels=int(spec.shape[-1]) if image else None,
        vocabulary=list(options["vectorizer"].get_vocabulary()) if options.get("vectorizer") is not None else None,
        zoo={"name": signature.name, "task": signature.task.name, "labels": options.get("labels") or [],
             "preprocessing": options.get("preprocessing") or {}, "inputs": _describe(specs)})


# What a LiteRT user passes to `Interpreter` for a file that XNNPACK (the default CPU delegate) refuses:
# LiteRT's builtin kernels, which run every builtin op. Recorded per file in the manifest (`interpreter_options`).
BUILTIN_KERNELS = {"experimental_op_resolver_type": "BUILTIN_WITHOUT_DEFAULT_DELEGATES"}


def default_interpreter_error(flatbuffer):
    """`None` when LiteRT's `Interpreter` with its default options loads the file, else what it said."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        with stderr_dropped():
            Interpreter(model_content=flatbuffer).allocate_tensors()
    except (ValueError, RuntimeError) as err:
        # XNNPACK repeats its message once per op it cannot prepare, without separators: say it once
        return re.sub(r"(.{12,}?)\1+", r"\1", " ".join(str(err).split()))[:300]
    return None


def interpreter(model_content=None, model_path=None, threads=2, options=None):
    """A LiteRT interpreter, tensors allocated; `options` (a manifest entry's `interpreter_options`, e.g.
    `BUILTIN_KERNELS`) as the export recorded them. A file XNNPACK refuses falls back to the builtin kernels."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    def make(**kwargs):
        interp = Interpreter(model_content=model_content, model_path=model_path, num_threads=threads, **kwargs)
        interp.allocate_tensors()
        return interp

    builtin = {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    try:
        if options and options.get("experimental_op_resolver_type") == BUILTIN_KERNELS["experimental_op_resolver_type"]:
            return make(**builtin)
        try:
            with stderr_dropped():
                return make()
        except (ValueError, RuntimeError) as err:
            if "XNNPACK" not in str(err) and "failed to prepare" not in str(err):
                raise
            # XNNPACK refuses some valid graphs (e.g. int8 steps of an unrolled bidirectional LSTM); LiteRT's
            # builtin kernels run them. The export records this in the manifest, the card and the usage snippet.
            return make(**builtin)
    except (ValueError, RuntimeError) as err:
        where = repr(model_path) if model_path else "The TFLite flatbuffer"
        raise common.ExportError(f"{where} is not a loadable LiteRT model ({' '.join(str(err).split())[:300]}). "
                                 "It is truncated or corrupt: export the model again.") from None


def op_names(flatbuffer):
    """Operator names from the flatbuffer itself (no interpreter, so no
    delegate rewrites): builtins by name, custom/Flex ops by their custom code."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    builtin_names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    names = set()
    for code in model.operatorCodes:
        builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
            names.add(f"CUSTOM:{custom}")
        else:
            names.add(builtin_names.get(builtin, str(builtin)))
    return sorted(names)


def non_builtin_ops(flatbuffer):
    """Flex and custom ops in a flatbuffer (empty for a builtins-only model)."""
    return [name for name in op_names(flatbuffer) if name.startswith("CUSTOM:")]


# interpreter -> ({input name: tensor index} or None, output detail): a signature runner costs more to build
# (12 us) than a small model's whole call, and `run` is called once per example for fixed-batch files.
_SIGNATURE_IO = weakref.WeakKeyDictionary()


def _signature_io(interp):
    """`({input name: tensor index}, output detail)` of a LiteRT interpreter: its `serving_default` signature's
    inputs and model output (`probabilities`, `forecast`, ...: not the derived `class_ids`); for a file without
    signatures (written before they were added) `None` and the first output tensor."""
    if interp not in _SIGNATURE_IO:
        if SIGNATURE not in interp.get_signature_list():
            _SIGNATURE_IO[interp] = None, interp.get_output_details()[0]
        else:
            runner = interp.get_signature_runner(SIGNATURE)
            outputs = runner.get_output_details()
            _SIGNATURE_IO[interp] = ({name: d["index"] for name, d in runner.get_input_details().items()},
                                     outputs[next(k for k in outputs if k != "class_ids")])
    return _SIGNATURE_IO[interp]


def run(interp, inputs):
    """Run a LiteRT interpreter on `{input name: array}` (batch resized if the
    file allows, else one example at a time). Quantized int8 I/O is handled."""
    named, out = _signature_io(interp)
    current = {d["index"]: d for d in interp.get_input_details()}  # their shapes as last resized
    if named is not None:
        missing = sorted(set(named) - set(inputs))
        if missing:
            raise common.ExportError(f"No input for the LiteRT file's inputs {missing}; got {list(inputs)}.")
        details, arrays = [current[i] for i in named.values()], [np.asarray(inputs[k]) for k in named]
    else:
        details = list(current.values())

        def lookup(detail):
            for name, value in inputs.items():
                if detail["name"] == name or detail["name"].endswith(f"_{name}:0") or name in detail["name"]:
                    return np.asarray(value)
            raise common.ExportError(f"No input for TFLite tensor {detail['name']!r}; got {list(inputs)}.")

        arrays = [lookup(d) for d in details]
    batch = len(arrays[0])
    fixed = any(d["shape_signature"][0] == 1 for d in details)
    if fixed and batch > 1:
        parts = [run(interp, {k: np.asarray(v)[i:i + 1] for k, v in inputs.items()}) for i in range(batch)]
        return np.concatenate(parts, axis=0)
    for d, x in zip(details, arrays):
        if tuple(d["shape"]) != x.shape:
            interp.resize_tensor_input(d["index"], x.shape, strict=False)
    interp.allocate_tensors()
    for d, x in zip(details, arrays):
        if d["dtype"] == np.int8 and x.dtype != np.int8:
            scale, zero = d["quantization"]
            x = np.clip(np.round(x / scale + zero), -128, 127)
        interp.set_tensor(d["index"], x.astype(d["dtype"]))
    interp.invoke()
    y = interp.get_tensor(out["index"])
    if out["dtype"] == np.int8:
        scale, zero = out["quantization"]
        y = (y.astype(np.float32) - zero) * scale
    return y


# Op types that may be kept in float: arithmetic on activations. Ops holding the weights (FULLY_CONNECTED,
# CONV_2D, ...) stay int8 whatever their error, else the file would not be an int8 file; data movement
# (RESHAPE, TRANSPOSE, GATHER, ...) carries no rounding of its own.
FLOAT_CANDIDATES = ("SOFTMAX", "MEAN", "SQUARED_DIFFERENCE", "RSQRT", "GELU", "BATCH_MATMUL", "ADD", "SUB", "MUL",
                    "DIV", "SUM", "TANH", "LOGISTIC", "HARD_SWISH", "LOG_SOFTMAX", "EXP", "POW", "SQRT", "MAXIMUM",
                    "MINIMUM", "AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_NORMALIZATION")


WEIGHT_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")  # ops holding weights


def _non_weight_ops(flat):
    """The op types of a flatbuffer that hold no weights (the candidates to keep in float)."""
    return sorted(set(op_names(flat)) - set(WEIGHT_OPS) - {"QUANTIZE", "DEQUANTIZE"})


def _within_budget(flat, model, signature, frozen, calibration, options, search_examples=1000):
    """`(flatbuffer, float op types)`: the full-integer file if it keeps accuracy within the export's
    budget on the labelled evaluation examples; else selective quantization: each arithmetic op type of
    the file is tried alone in float, then every op type but the weight ops (`WEIGHT_OPS`: int8
    weights, float activations elsewhere). Without labels, or when no such file is found, the
    full-integer file (the budget check then reports it). Measured on the IMDB Transformer (2,000 test
    reviews): full int8 lost 3.1 points, any one op type in float still ~3, every op but
    FULLY_CONNECTED and BATCH_MATMUL in float 3.0, every op but FULLY_CONNECTED 0.5.

    (Candidates are judged by measured accuracy, not ranked by the quantization debugger's per-layer
    error: its verification ops' integer DIV crashes on the Transformer's attention mask.)"""
    labels, inputs = options.get("eval_labels"), options.get("eval_inputs")
    if labels is None or inputs is None or not common.has_budget(signature.task) or signature.recurrent:
        # Recurrent: the converter's selective path crashed the process (double free) on an unrolled
        # BiLSTM (TF 2.21), so an over-budget recurrent int8 file is reported by the budget check instead.
        return flat, []
    budget = options.get("max_accuracy_drop", 1.0) / 100
    inputs = {k: v[:search_examples] for k, v in inputs.items()}
    labels = np.asarray(labels)[:search_examples]
    reference = common.predict_in_chunks(model, [inputs[n] for n in signature.input_names])

    def drop(candidate):  # accuracy lost (classifiers) or relative RMSE gained (regressors)
        return common.budget_loss(signature.task, labels, reference, run(interpreter(model_content=candidate), inputs))

    def variant(float_ops):
        return convert(model, quantization="int8", representative_inputs=calibration,
                       int8_io=options.get("int8_io", False), allow_flex=options.get("allow_flex", False),
                       signature=signature, frozen=frozen, float_ops=float_ops)

    if drop(flat) <= budget:
        return flat, []
    present = set(op_names(flat))
    for op in [op for op in FLOAT_CANDIDATES if op in present]:
        candidate = variant([op])
        if drop(candidate) <= budget:
            return candidate, [op]
    float_ops = _non_weight_ops(flat)
    candidate = variant(float_ops)
    if drop(candidate) <= budget:
        return candidate, float_ops
    return flat, []


@register_format
class TFLiteFormat(Format):
    """LiteRT flatbuffers `<name>.<quantization>.tflite`, one per requested quantization."""

    name = "tflite"
    order = 20
    quantizations = QUANTIZATIONS
    manifest_fields = ("tflite_inputs",)

    def planned(self, model_name, quantizations):
        return [Planned(f"tflite_{q}", f"{model_name}.{q}.tflite", q) for q in quantizations]

    def manifest_update(self, model, signature):
        """The LiteRT files' input shapes (fixed batch 1 for recurrent models, a fixed token length)."""
        return {"tflite_inputs": _describe(tflite_specs(model, signature))}

    def write(self, model, signature, out_dir, options):
        from pipelines.files import atomic_write

        entries = {}
        calibration = options.get("calibration")
        specs = tflite_specs(model, signature)
        frozen = _frozen_function(model, specs, signature)  # once for all variants
        for key, rel, q in self.planned(signature.name, options["quantizations"]):
            rep = None if calibration is None else [calibration[n] for n in signature.input_names]
            source = frozen
            if q == "int8" and signature.recurrent:  # the calibrator needs the time loop unrolled
                with common.unrolled_backward_mask_fix():
                    source = _frozen_function(common.unrolled_copy(model, specs), specs, signature)
            flat = convert(model, quantization=q, representative_inputs=rep, int8_io=options.get("int8_io", False),
                           allow_flex=options.get("allow_flex", False), signature=signature, frozen=source)
            float_ops = []
            if q == "int8" and (options.get("preprocessing") or {}).get("units") == "series":
                # A forecaster in series units: the log/scaling around the network stays float (see onnx.py).
                float_ops = _non_weight_ops(flat)
                flat = convert(model, quantization=q, representative_inputs=rep, int8_io=False, signature=signature,
                               allow_flex=options.get("allow_flex", False), frozen=source, float_ops=float_ops)
            elif q == "int8":
                flat, float_ops = _within_budget(flat, model, signature, source, rep, options)
            flat = _with_metadata(flat, signature, specs, options)
            atomic_write(os.path.join(out_dir, rel), flat)
            refused = default_interpreter_error(flat)
            entries[key] = {"format": self.name, "quantization": q, "path": rel, "ops": op_names(flat),
                            "metadata": {"name": litert_metadata.METADATA_NAME,
                                         "packed_files": sorted(litert_metadata.packed(flat))},
                            **({"float_ops": float_ops} if float_ops else {}),
                            **({"interpreter_options": BUILTIN_KERNELS, "default_interpreter_error": refused}
                               if refused else {})}
        return entries

    def usage(self, entry, manifest, folder):
        inputs = manifest.get("tflite_inputs") or manifest["inputs"]
        outputs = ", ".join(manifest.get("outputs") or [manifest["output"]])
        builtin = bool(entry.get("interpreter_options"))
        return ("```python\nfrom ai_edge_litert.interpreter import Interpreter"
                + (", OpResolverType\n\n# XNNPACK, LiteRT's default CPU delegate, refuses this file: its builtin "
                   "kernels run it\n" if builtin else "\n")
                + f"interpreter = Interpreter(model_path=\"{folder}/{entry['path']}\""
                + (",\n                          experimental_op_resolver_type="
                   "OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)\n" if builtin else ")\n")
                + f"runner = interpreter.get_signature_runner(\"{SIGNATURE}\")\n"
                f"x = ...  # {inputs[0]['name']}: shape {tuple(inputs[0]['shape'])}, preprocessed as in training\n"
                f"outputs = runner({inputs[0]['name']}=x)  # {{name: array}}: {outputs}\n```")

    def runner(self, entry, out_dir):
        interp = interpreter(model_path=os.path.join(out_dir, entry["path"]), options=entry.get("interpreter_options"))
        dynamic = all(d["shape_signature"][0] == -1 for d in interp.get_input_details())
        return (lambda inputs: run(interp, inputs)), dynamic

