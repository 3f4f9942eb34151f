"""zoo: Keras 3 models with verified deployment exports.

```python
import zoo
from zoo import resnet50
model = resnet50(weights=None)
zoo.list_models("resnet*")
```

Importing `zoo` is cheap: the model families (and with them Keras and
TensorFlow) load on first use of a builder or of the registry, or at once
when Keras is already loaded. `zoo.load_model(path)` loads a saved zoo model
in any case.
"""

import importlib
import sys

__version__ = "0.1.0"

from zoo.registry import (  # noqa: E402  (no Keras import)
    create_model,
    get_spec,
    list_families,
    list_models,
    load_families,
    load_model,
    model_info,
    register_model,
)

_FAMILIES = {
    "zoo.resnet": ("CifarResNet", "ResNet", "resnet8", "resnet18", "resnet20", "resnet32", "resnet34",
                   "resnet44", "resnet50", "resnet56", "resnet101", "resnet110", "resnet152", "resnet_tiny"),
    "zoo.densenet": ("DenseNet", "densenet121", "densenet169", "densenet201", "densenet_bc_100_k12",
                     "densenet_tiny"),
    "zoo.nasnet": ("NASNet", "nasnet_cifar", "nasnet_large", "nasnet_mobile", "nasnet_tiny"),
    "zoo.mlp": ("MLP", "TabularMLP", "mlp", "mlp_tiny", "mlp_tabular", "mlp_regressor"),
    "zoo.rnn": ("RNNClassifier", "RNNForecaster", "gru_classifier", "gru_classifier_tiny", "gru_forecaster",
                "lstm_attention_classifier", "lstm_classifier", "lstm_classifier_tiny", "lstm_forecaster",
                "lstm_forecaster_tiny"),
    "zoo.transformer": ("TransformerClassifier", "TransformerSeq2Seq", "greedy_decode", "transformer_classifier",
                        "transformer_seq2seq", "transformer_seq2seq_tiny", "transformer_tiny"),
}
_LAZY = {name: module for module, names in _FAMILIES.items() for name in names}
_SUBMODULES = ("layers", "weights", "tasks", "train", "compress", "transfer", "bench", "files", "config", "nasnet")

__all__ = ["create_model", "get_spec", "list_families", "list_models", "load_families", "load_model", "model_info",
           "register_model", *_LAZY, *_SUBMODULES]



def _bind_builders():
    """Bind every builder as a package attribute. Importing a family module binds the module
    itself (`zoo.mlp` the module would shadow `zoo.mlp` the builder), so rebind after it."""
    for name, module in _LAZY.items():
        if module in sys.modules:
            globals()[name] = getattr(sys.modules[module], name)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        _bind_builders()
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"zoo.{name}")
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


if "keras" in sys.modules:  # Keras is loaded anyway: register the zoo's classes for keras.saving.load_model
    load_families()
