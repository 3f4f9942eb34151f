"""Export zoo models to SavedModel (TF Serving), TFLite/LiteRT and ONNX, and
verify every file against the Keras model.

Example:

```python
import zoo
from export import export_model, verify_export
model = zoo.mlp_tiny()
report = export_model(model, "exports/mlp", formats=("saved_model", "tflite", "onnx"))
report["passed"]                          # every file matched Keras
verify_export("exports/mlp")["passed"]    # re-checks later
```

Layout of `out_dir`:

    saved_model/<name>/<version>/     TF Serving model base path: saved_model/<name>
    <name>.<fp32|fp16|dynamic|int8>.tflite
    <name>.onnx
    model.keras                       the reference the files are checked against
    verify_inputs.npz                 the verification inputs (and labels)
    vocabulary.txt                    token ids of text models
    zoo_export.json                   name, task, input spec, preprocessing, labels, versions, files + hashes
    report.json                       the last verification

One module per format (`saved_model`, `tflite`, `onnx`), each registered with
`@register_format` (`export.formats`: its name, quantizations and file names,
declared once); `export_model` (`export.exporter`) computes the model's
signature once and hands it to each; `export.manifest` writes
`zoo_export.json`; `export.verify` runs every file with the formats' runners.
"""

from export.common import ExportError
from export.exporter import export_model
from export.formats import FORMATS, all_quantizations, load_formats
from export.predict import PredictError, Predictor, predict
from export.verify import verify_export
from pipelines import quiet as _quiet  # noqa: F401  (TensorFlow's start-up lines filtered at its first import)

load_formats()  # every module of export/ (each format registers itself)
QUANTIZATIONS = all_quantizations()

__all__ = ["FORMATS", "QUANTIZATIONS", "ExportError", "PredictError", "Predictor", "export_model", "predict",
           "verify_export"]
