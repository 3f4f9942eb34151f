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
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

from pipelines import quiet as _quiet  # noqa: E402,F401  (filters TensorFlow's start-up lines at its first import)
from zoo import registry as _registry  # noqa: E402  (no Keras import)
from zoo.registry import (  # noqa: E402
    create_model,
    get_spec,
    list_families,
    list_models,
    load_families,
    load_model,
    model_info,
    register_model,
)

# The families' model classes and helpers (not registered models), importable from `zoo`.
_CLASSES = {
    "zoo.resnet": ("CifarResNet", "ResNet"),
    "zoo.densenet": ("DenseNet",),
    "zoo.nasnet": ("NASNet",),
    "zoo.mobilenet": ("MobileNetV2", "MobileNetV3"),
    "zoo.efficientnet": ("EfficientNet",),
    "zoo.vit": ("ViT",),
    "zoo.mlp": ("MLP", "TabularMLP"),
    "zoo.rnn": ("RNNClassifier", "RNNForecaster"),
    "zoo.transformer": ("TransformerClassifier", "TransformerSeq2Seq", "greedy_decode"),
}


def _lazy_names():
    """`{name: module}` of everything `from zoo import NAME` loads on first use: every registered model (read
    from the catalog `python -m zoo.registry` writes from the registry, so no Keras import here) and the
    families' classes."""
    from zoo.registry import read_catalog

    names = {name: info.get("module", f"zoo.{info['family']}") for name, info in read_catalog().items()}
    names.update({name: module for module, listed in _CLASSES.items() for name in listed})
    return names


_LAZY = _lazy_names()
_SUBMODULES = ("layers", "weights", "tasks", "train", "compress", "transfer", "config", "nasnet", "recipes", "timing", "metrics",
               "run_folder")

__all__ = ["create_model", "get_spec", "list_families", "list_models", "load_families", "load_model", "model_info",
           "register_model", *_LAZY, *_SUBMODULES]



def _bind_builders():
    """Bind every builder as a package attribute. Importing a family module binds the module
    itself (`zoo.mlp` the module would shadow `zoo.mlp` the builder), so rebind after it."""
    for name, module in _LAZY.items():
        if module in sys.modules:
            globals()[name] = getattr(sys.modules[module], name)


_registry.after_load(_bind_builders)


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


class _RegisterAfterKeras(importlib.abc.Loader):
    """Keras' own loader, then the zoo's classes registered: `keras.saving.load_model` reads a saved zoo
    model also when Keras is imported after `zoo`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        # Keras imported by a zoo module itself (mid-import): that import chain registers the classes
        if not any(getattr(getattr(m, "__spec__", None), "_initializing", False)
                   for n, m in list(sys.modules.items()) if n == "zoo" or n.startswith("zoo.")):
            load_families()

    def __getattr__(self, name):  # get_data, is_package, resource readers: the real loader's
        return getattr(self._loader, name)


class _KerasFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the first `keras` import, then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisterAfterKeras(spec.loader)
        return spec


if "keras" in sys.modules:  # Keras is loaded anyway: register the zoo's classes for keras.saving.load_model
    load_families()
else:
    sys.meta_path.insert(0, _KerasFinder())
