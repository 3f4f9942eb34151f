"""`openvino`: OpenVINO IR (`.xml` graph + `.bin` weights) for Intel CPUs, iGPUs and NPUs, fp32 and int8.

The IR is converted from the same traced function as the ONNX file (`openvino.convert_model` on a
`tf.function`, named inputs/outputs, `class_ids` beside the probabilities); int8 is NNCF's post-training
quantization on the export's calibration examples, judged by the same `max_accuracy_drop` budget as the
other int8 files. Optional: `pip install "keras-zoo[openvino]"`.

OpenVINO's CPU plugin computes in bf16 by default on CPUs with AVX512_BF16 or AMX (it was so on this
project's EPYC): a float32 file then differs from Keras by ~1e-2. The files are verified and served with
`INFERENCE_PRECISION_HINT=f32`, recorded per file in the manifest (`interpreter_options`) and the card.
"""

import contextlib
import io
import os
import tempfile

import numpy as np
import tensorflow as tf

from export import common
from export import manifest as manifest_lib
from export.formats import Format, Planned, register_format

F32 = {"INFERENCE_PRECISION_HINT": "f32"}
OVERFLOW_FIX = "enable"  # NNCF's OverflowFix: 7-bit weights in every MatMul/convolution (see `quantize`)
INSTALL_HINT = 'pip install "keras-zoo[openvino]" (openvino and nncf)'


def _openvino():
    try:
        import openvino
    except ImportError:
        raise common.ExportError(f"The openvino format needs OpenVINO: {INSTALL_HINT}.") from None
    return openvino


def convert(model, signature):
    """An `openvino.Model` of `model` (float32), inputs and outputs named as the SavedModel's."""
    ov = _openvino()
    specs = list(signature.specs)

    @tf.function(input_signature=specs)
    def fn(*args):  # the SavedModel's outputs: the task derives them (class_ids for classifiers)
        return signature.task.derived_outputs(model, common.call_model(model, common.truncate_tokens(args, signature)))

    try:
        converted = ov.convert_model(fn.get_concrete_function())
    except Exception as err:
        raise common.ExportError(f"OpenVINO conversion of {model.name!r} failed: "
                                 + " ".join(str(err).split())[:1500]) from err
    for port in converted.inputs:  # TensorFlow's names carry ':0' and scopes; keep the signature's
        name = next((s.name for s in specs if port.get_any_name().split(":")[0].endswith(s.name)), None)
        if name:
            port.get_tensor().set_names({name})
    for port in converted.outputs:  # keep only the signature's names (TensorFlow's 'ArgMax:0' & co dropped)
        names = port.get_names() & ({signature.output} | set(signature.outputs))
        if names:
            port.get_tensor().set_names(names)
    return converted


def _model_type(converted):
    """NNCF's TRANSFORMER type (weights and MatMuls in int8, softmax/layer norm float) for graphs without a
    convolution, where int8 element-wise ops cost accuracy and time (as for the ONNX file)."""
    import nncf

    ops = {op.get_type_name() for op in converted.get_ops()}
    return None if ops & {"Convolution", "GroupConvolution"} else nncf.ModelType.TRANSFORMER


def quantize(converted, calibration, signature, weights_only=False):
    """NNCF post-training int8 of `converted`, calibrated on `calibration` (`{input name: array}`), one
    example per step (the statistics NNCF collects are per example). `weights_only`: int8 weights, float
    arithmetic (`nncf.compress_weights`), for files that take raw units: a forecaster's log/scaling of
    passengers or prices in int8 steps cost the airline LSTM 3.2% of its RMSE, as in the ONNX and LiteRT files."""
    try:
        import nncf
    except ImportError:
        raise common.ExportError(f"int8 OpenVINO files need NNCF: {INSTALL_HINT}.") from None
    nncf.set_log_level(40)  # errors only: no progress bars in `zoo export`'s output
    if weights_only:
        with contextlib.redirect_stdout(io.StringIO()):
            return nncf.compress_weights(converted, mode=nncf.CompressWeightsMode.INT8_ASYM)
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    n = len(next(iter(calibration.values())))
    items = [{name: np.asarray(calibration[name][i:i + 1]) for name in signature.input_names} for i in range(n)]
    # Weights in 7 bits everywhere (NNCF's default fixes the first convolution only): CPUs without VNNI sum
    # u8 x s8 pairs in saturating 16 bits (export.cpu), and a file is served on CPUs the exporter cannot know.
    # The digits MLP's int8 IR lost 1.97 points on its 355 test digits with oneDNN capped at AVX2 and none
    # here (AVX-512 VNNI); with 7-bit weights it answers identically on both (benchmarks/int8_cpu_class.py).
    advanced = AdvancedQuantizationParameters(overflow_fix=OverflowFix(OVERFLOW_FIX))
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # NNCF draws progress bars on stdout
            return nncf.quantize(converted, nncf.Dataset(items), subset_size=n, model_type=_model_type(converted),
                                 advanced_parameters=advanced)
    except Exception as err:
        raise common.ExportError("OpenVINO int8 quantization (nncf.quantize) failed: "
                                 + " ".join(str(err).split())[:1500]) from err


def _save(ov, converted, out_dir, rel):
    """`rel` (.xml) and its .bin, written under temporary names and renamed (the .bin first)."""
    folder = os.path.join(out_dir, os.path.dirname(rel))
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".ov-", dir=folder) as tmp:
        ov.save_model(converted, os.path.join(tmp, "model.xml"), compress_to_fp16=False)
        base = os.path.join(out_dir, rel[:-len(".xml")])
        os.replace(os.path.join(tmp, "model.bin"), base + ".bin")
        os.replace(os.path.join(tmp, "model.xml"), base + ".xml")


def compile_file(path, options=None):
    ov = _openvino()
    return ov.Core().compile_model(path, "CPU", dict(options or {}))


def _default_precision():
    """The CPU plugin's default inference precision on this machine ('bf16', 'f32', ...)."""
    value = _openvino().Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
    return value.get_type_name() if hasattr(value, "get_type_name") else str(value)


@register_format
class OpenVinoFormat(Format):
    """OpenVINO IR `openvino/<name>.xml` + `.bin` (dynamic batch), and with int8 `openvino/<name>.int8.xml`
    (NNCF post-training quantization). Not in the default formats: `--formats ...,openvino`."""

    name = "openvino"
    order = 40
    quantizations = ("fp32", "int8")
    default = False

    def planned(self, model_name, quantizations):
        return [Planned("openvino", f"openvino/{model_name}.xml", "fp32")] + (
            [Planned("openvino_int8", f"openvino/{model_name}.int8.xml", "int8")] if "int8" in quantizations else [])

    def check_options(self, options):
        _openvino()

    def write(self, model, signature, out_dir, options):
        ov = _openvino()
        calibration = options.get("calibration")
        planned = self.planned(signature.name, options.get("quantizations", ()) if calibration is not None else ())
        converted = convert(model, signature)
        default = _default_precision()
        weights_only = (options.get("preprocessing") or {}).get("units") == "series"
        entries = {}
        for key, rel, quantization in planned:
            graph = converted if quantization == "fp32" else quantize(
                converted, {n: calibration[n] for n in signature.input_names}, signature, weights_only=weights_only)
            _save(ov, graph, out_dir, rel)
            weights = os.path.basename(rel)[:-len(".xml")] + ".bin"
            entries[key] = {"format": self.name, "quantization": quantization, "path": rel, "bundle": "openvino",
                            "output": signature.output,
                            "assets": {weights: manifest_lib.sha256(os.path.join(out_dir, "openvino", weights))},
                            "interpreter_options": F32,
                            "default_interpreter_error": f"OpenVINO's CPU plugin computes in {default} by default on "
                                                         "this CPU (bf16 on CPUs with AVX512_BF16 or AMX)"}
            if quantization == "int8":  # integer kernels (7-bit weights), or int8 weights with float arithmetic
                entries[key]["int8"] = "weights only" if weights_only else f"overflow_fix={OVERFLOW_FIX}"
        return entries

    def size(self, entry, out_dir):
        """The graph (.xml) and its weights (.bin)."""
        return sum(os.path.getsize(os.path.join(out_dir, p)) for p in
                   [entry["path"], *(os.path.join(entry["bundle"], rel) for rel in entry.get("assets", {}))])

    def usage(self, entry, manifest, folder):
        first = manifest["inputs"][0]
        return ("```python\nimport openvino as ov\n"
                f"model = ov.Core().compile_model(\"{folder}/{entry['path']}\", \"CPU\", "
                "{\"INFERENCE_PRECISION_HINT\": \"f32\"})\n"
                f"x = ...  # {first['name']}: {first['dtype']} {tuple(first['shape'])}, preprocessed as in training\n"
                f"outputs = model({{\"{first['name']}\": x}})\n"
                f"scores = outputs[model.output(\"{manifest['output']}\")]\n```")

    def runner(self, entry, out_dir):
        compiled = compile_file(os.path.join(out_dir, entry["path"]), entry.get("interpreter_options"))
        request = compiled.create_infer_request()  # one request, reused: what a server does per thread
        output = compiled.output(entry["output"])
        names = [port.get_any_name() for port in compiled.inputs]

        def run(inputs):
            feeds = {name: np.asarray(inputs[name]) for name in names}
            return np.array(request.infer(feeds)[output])

        return run, True
