"""The export formats, by name: each writes its files and knows how to run them.

`FORMATS[name].write(model, signature, out_dir, options)` returns the
manifest entries of the files it wrote; `FORMATS[entry["format"]].runner(entry,
out_dir)` returns `(run(inputs) -> outputs, takes_any_batch)`, which both
the export's verification and `zoo verify` use.
"""

from export import onnx, saved_model, tflite

FORMATS = {fmt.name: fmt for fmt in (saved_model.FORMAT, tflite.FORMAT, onnx.FORMAT)}
QUANTIZATIONS = tflite.QUANTIZATIONS


def runner(entry, out_dir):
    return FORMATS[entry["format"]].runner(entry, out_dir)
