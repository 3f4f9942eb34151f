"""Names the CLI needs before TensorFlow loads (so `zoo --help` stays instant)."""

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu", "parameter_server")
BUILTIN_DATASETS = ("digits", "mnist", "cifar10", "imdb", "sst2", "airline")
DATASET_PREFIXES = ("text:<file>", "textfolder:<folder|tar>", "tabular:<file>", "idx:<folder>", "npz:<file>", "series:<file>", "tfrecord:<folder>", "folder:<path>", "tfds:<name>")
