"""Names the CLI needs before TensorFlow loads (so `zoo --help` stays instant). The datasets and
source kinds are in `pipelines/sources.json`, written from the registry (`pipelines.registry`)."""

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu", "parameter_server")
