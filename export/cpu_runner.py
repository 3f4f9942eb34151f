"""Run export files on given inputs and save their outputs: the child process of `export.cpu.run_as`.

Run as a script (`python export/cpu_runner.py JOB.json`), never imported by the zoo's code paths: it
imports NumPy and the one runtime each file needs, so it starts quickly under an emulator. JOB.json:
`{"folder", "inputs" (.npz), "out" (.npz), "files": {manifest key: manifest entry}}`; the saved outputs
are each file's model output (`probabilities`, `forecast`, ...; not the derived `class_ids`), as
`export.verify` compares them.
"""

import json
import os
import sys

# Run as a script, Python puts this folder first on sys.path, where `onnx.py` and `openvino.py` (the zoo's
# format modules) would shadow the runtimes' own packages.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

CHUNK = 256


def _onnx(path, entry, inputs):
    import numpy as np
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sess = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    types = {i.name: np.int32 if "int32" in i.type else np.int64 if "int64" in i.type else np.float32
             for i in sess.get_inputs()}
    n = len(next(iter(inputs.values())))
    return np.concatenate([sess.run([sess.get_outputs()[0].name],
                                    {k: inputs[k][i:i + CHUNK].astype(t) for k, t in types.items()})[0]
                           for i in range(0, n, CHUNK)])


def _openvino(path, entry, inputs):
    import numpy as np
    import openvino as ov

    compiled = ov.Core().compile_model(path, "CPU", dict(entry.get("interpreter_options") or {}))
    request, output = compiled.create_infer_request(), compiled.output(entry["output"])
    names = [port.get_any_name() for port in compiled.inputs]
    n = len(next(iter(inputs.values())))
    return np.concatenate([np.array(request.infer({k: inputs[k][i:i + CHUNK] for k in names})[output])
                           for i in range(0, n, CHUNK)])


def _tflite(path, entry, inputs):
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    options = entry.get("interpreter_options") or {}
    kwargs = ({"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
              if "experimental_op_resolver_type" in options else {})
    interp = Interpreter(model_path=path, num_threads=2, **kwargs)
    runner = interp.get_signature_runner("serving_default")
    details, outputs = runner.get_input_details(), runner.get_output_details()
    name = next(k for k in outputs if k != "class_ids")
    fixed = any(d["shape_signature"][0] == 1 for d in details.values())
    n = len(next(iter(inputs.values())))
    step = 1 if fixed else CHUNK

    def quantize(x, detail):
        if detail["dtype"] == np.int8 and x.dtype != np.int8:
            scale, zero = detail["quantization"]
            x = np.clip(np.round(x / scale + zero), -128, 127)
        return x.astype(detail["dtype"])

    parts = []
    for i in range(0, n, step):
        y = runner(**{k: quantize(inputs[k][i:i + step], d) for k, d in details.items()})[name]
        if outputs[name]["dtype"] == np.int8:
            scale, zero = outputs[name]["quantization"]
            y = (y.astype(np.float32) - zero) * scale
        parts.append(y)
    return np.concatenate(parts)


def main(job_path):
    import numpy as np

    with open(job_path) as f:
        job = json.load(f)
    with np.load(job["inputs"]) as f:
        inputs = {k: f[k] for k in f.files}
    run = {"onnx": _onnx, "openvino": _openvino, "tflite": _tflite}
    outputs = {key: np.asarray(run[entry["format"]](os.path.join(job["folder"], entry["path"]), entry, inputs),
                               "float32")
               for key, entry in job["files"].items()}
    np.savez(job["out"], **outputs)


if __name__ == "__main__":
    main(sys.argv[1])
