"""Task names, importable without Keras (the CLI's `--task` choices); `zoo.tasks` owns the objects."""

IMAGE_CLASSIFICATION = "image_classification"
TEXT_CLASSIFICATION = "text_classification"
TABULAR_CLASSIFICATION = "tabular_classification"
FORECASTING = "forecasting"
REGRESSION = "regression"
SEQ2SEQ = "seq2seq"
FEATURES = "features"

TASK_NAMES = (IMAGE_CLASSIFICATION, TEXT_CLASSIFICATION, TABULAR_CLASSIFICATION, FORECASTING, REGRESSION,
              SEQ2SEQ, FEATURES)
