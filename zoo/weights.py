"""Loading and transferring weights, including keras.applications' files.

zoo's ImageNet ResNets and DenseNets name every layer exactly as
keras.applications does, so weights move across by layer name: from a live
`keras.applications` model, from its legacy `.h5` weights files (what
`weights="imagenet"` downloads), or from our own `.weights.h5`/`.keras` files.

Example:

```python
import keras, zoo
kapp = keras.applications.ResNet50(weights=None)
ours = zoo.weights.from_keras_applications(kapp)   # same outputs as `kapp`
```
"""

import os

import h5py
import keras
import numpy as np


def _flat_layers(model):
    """Layers that own weights, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        elif layer.weights:
            yield layer


def _decode(names):
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


def _read_legacy_h5(path):
    """{layer_name: [arrays]} from a Keras 2 / keras.applications `.h5` file."""
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in group.attrs:
            raise ValueError(
                f"{path!r} is not a Keras weights file in the legacy HDF5 "
                "layout (no `layer_names` attribute). Pass a keras.applications "
                "`.h5` file, or a Keras 3 `.weights.h5` / `.keras` file."
            )
        out = {}
        for layer_name in _decode(group.attrs["layer_names"]):
            layer_group = group[layer_name]
            weight_names = _decode(layer_group.attrs.get("weight_names", []))
            if weight_names:
                out[layer_name] = [np.asarray(layer_group[w]) for w in weight_names]
        return out


def written_by_keras2(path):
    """True for a legacy `.h5` weights file written by Keras 2, such as every keras.applications file
    (`weights="imagenet"` downloads them): its ResNets are v1, the stride in the first 1x1 convolution."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).endswith((".h5", ".hdf5")) \
            or os.fspath(path).endswith(".weights.h5") or not os.path.isfile(path):
        return False
    try:
        with h5py.File(path, "r") as f:
            version = f.attrs.get("keras_version", (f["model_weights"].attrs if "model_weights" in f else f.attrs)
                                  .get("keras_version", b""))
    except OSError:
        return False
    version = version.decode("utf8") if isinstance(version, bytes) else str(version)
    return version.startswith("2.")


def _source_weights(source):
    if isinstance(source, keras.Model):
        return {layer.name: layer.get_weights() for layer in _flat_layers(source)}
    if isinstance(source, (str, os.PathLike)):
        return _read_legacy_h5(os.fspath(source))
    raise ValueError(
        "`source` must be a Keras model or the path of a legacy `.h5` weights "
        f"file. Received: source={source!r}"
    )


def transfer_weights(source, target, *, skip_mismatch=False):
    """Copy weights into `target` layer by layer, matching layer names.

    Args:
        source: a Keras model (e.g. `keras.applications.ResNet50(...)`) or the
            path of a legacy `.h5` weights file (keras.applications' files).
        target: the model to fill.
        skip_mismatch: if `True`, layers of `target` that are missing in
            `source` or whose shapes differ keep their weights (and are
            returned); if `False` (default) any such layer raises.

    Returns:
        The names of the target layers that were not filled (empty unless
        `skip_mismatch=True`).
    """
    weights = _source_weights(source)
    missing, mismatched, pending = [], [], []
    for layer in _flat_layers(target):
        if layer.name not in weights:
            missing.append(layer.name)
            continue
        src = weights[layer.name]
        dst_shapes = [tuple(w.shape) for w in layer.weights]
        src_shapes = [tuple(w.shape) for w in src]
        if dst_shapes != src_shapes:
            mismatched.append(f"{layer.name}: {src_shapes} -> {dst_shapes}")
            continue
        pending.append((layer, src))
    if not pending:
        raise ValueError(
            "No layer of the target model matches the weights source by name: "
            "the source is for a different architecture. Target layers with "
            f"weights include {missing[:5]}; source layers include "
            f"{list(weights)[:5]}."
        )
    if (missing or mismatched) and not skip_mismatch:
        details = mismatched[:8] + [f"{n}: not in source" for n in missing[:8]]
        raise ValueError(
            "The weights do not match the model architecture "
            f"({len(mismatched)} layers with other shapes, {len(missing)} "
            "missing), so nothing was loaded. Build the model with the "
            "architecture the weights were saved from (same depth, `classes`, "
            "`include_top`), or pass `skip_mismatch=True` to load the rest. "
            "First differences: " + "; ".join(details)
        )
    # Only write once everything is checked: a failed load leaves the model
    # exactly as it was.
    for layer, src in pending:
        layer.set_weights(src)
    return missing + [m.split(":")[0] for m in mismatched]


def load_weights(model, weights, *, pretrained=None):
    """Fill `model` from `weights` as the builders' `weights=` argument does.

    Args:
        model: a built zoo model.
        weights: `None`, a key of `pretrained`, or a file path: a Keras 3
            `.weights.h5`/`.keras` file saved from the same architecture, or a
            legacy `.h5` file (keras.applications) matched by layer name.
        pretrained: `{name: (file_name, url, file_hash)}` for downloadable
            weights, fetched with `keras.utils.get_file` into
            `~/.keras/models` (also reused from there offline).
    """
    pretrained = pretrained or {}
    if weights is None:
        return model
    if isinstance(weights, str) and weights in pretrained:
        file_name, url, file_hash = pretrained[weights]
        path = keras.utils.get_file(
            file_name, url, cache_subdir="models", file_hash=file_hash
        )
        transfer_weights(path, model)
        return model
    path = os.fspath(weights)
    if path.endswith(".weights.h5") or path.endswith(".keras"):
        try:
            model.load_weights(path)
        except Exception as err:  # Keras raises several types here.
            raise ValueError(
                f"Could not load {path!r} into {model.name!r}: the file was "
                "saved from a different architecture. Build the model with the "
                "same arguments it was saved with. Keras said: "
                f"{str(err).splitlines()[0] if str(err) else type(err).__name__}"
            ) from err
        return model
    if path.endswith((".h5", ".hdf5")):
        transfer_weights(path, model)
        return model
    raise ValueError(
        "Unknown weights file type; expected `.weights.h5`, `.keras`, or a "
        f"legacy `.h5`. Received: weights={path!r}"
    )


# Functions `kapp_model -> (registered name, builder arguments) or None` for keras.applications models whose
# name alone does not say the zoo's (MobileNets: width and variant); each family registers its own.
KERAS_APPLICATIONS_RESOLVERS = []


def keras_applications_resolver(fn):
    """Register `fn` (a family's reader of keras.applications models) for `from_keras_applications`."""
    KERAS_APPLICATIONS_RESOLVERS.append(fn)
    return fn


def _zoo_name(kapp_model):
    """`(registered name, builder arguments)` of a keras.applications model: what a family's resolver reads
    from it, else its own name (the ResNets, DenseNets and NASNets)."""
    from zoo import registry

    registry.load_families()
    for resolve in KERAS_APPLICATIONS_RESOLVERS:
        found = resolve(kapp_model)
        if found:
            return found
    return kapp_model.name, {}


def from_keras_applications(kapp_model, **overrides):
    """A zoo model equal to a keras.applications ResNet/DenseNet/NASNet/MobileNet, weights and all.

    The architecture (depth, input shape, top, classes) is read from
    `kapp_model`; for ResNets the stride stays in the first 1x1 convolution
    (v1, the layout those weights were trained in).
    """
    from zoo import registry

    name, family_kwargs = _zoo_name(kapp_model)
    if not registry.list_models(name):
        raise ValueError(
            "Only keras.applications ResNet50/101/152, DenseNet121/169/201, NASNetMobile/NASNetLarge, "
            f"MobileNetV2 and MobileNetV3 have zoo counterparts. Received a model named {kapp_model.name!r}."
        )
    include_top = any(layer.name == "predictions" for layer in kapp_model.layers)
    kwargs = dict(
        include_top=include_top,
        weights=None,
        input_shape=tuple(kapp_model.input_shape[1:]),
    )
    if include_top:
        head = kapp_model.get_layer("predictions")
        # A Dense head, or MobileNetV3's 1x1-convolution `logits` followed by an Activation named predictions.
        kwargs["classes"] = getattr(head, "units", None) or kapp_model.get_layer("logits").filters
        kwargs["classifier_activation"] = keras.activations.serialize(
            head.activation
        )
    elif any(isinstance(layer, keras.layers.GlobalAveragePooling2D) for layer in kapp_model.layers):
        kwargs["pooling"] = "avg"
    elif any(isinstance(layer, keras.layers.GlobalMaxPooling2D) for layer in kapp_model.layers):
        kwargs["pooling"] = "max"
    if name.startswith("resnet"):
        kwargs["stride_in_1x1"] = True
    kwargs.update(family_kwargs)
    kwargs.update(overrides)
    model = registry.create_model(name, **kwargs)
    transfer_weights(kapp_model, model)
    return model
