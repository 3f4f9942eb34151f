"""DenseNet for ImageNet (121/169/201) and DenseNet-BC for CIFAR.

Reference: Huang et al., "Densely Connected Convolutional Networks", CVPR 2017
(https://arxiv.org/abs/1608.06993). The ImageNet models follow
keras.applications layer for layer (names, BatchNorm epsilon), so parameter
counts match and its ImageNet weights load by name. DenseNet-BC uses the
paper's CIFAR layout: a 3x3 stem of 2k filters, three dense blocks of
bottleneck layers, compression 0.5.

Example:

```python
from zoo import densenet121, densenet_bc_100_k12
model = densenet121(weights=None)            # 8,062,504 parameters
cifar = densenet_bc_100_k12(classes=10)      # ~0.8M parameters
```
"""

from keras import layers

from zoo import _common
from zoo.registry import register_model
from zoo.weights import load_weights

_KAPP_URL = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
_KAPP_HASHES = {  # (with top, without top), from keras.applications.densenet
    "densenet121": ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}


def _pretrained_files(weights_name, include_top):
    return _common.kapp_pretrained_files(_KAPP_URL, _KAPP_HASHES, weights_name, include_top)


_bn = _common.batch_norm


# --------------------------------------------------------------------------
# Blocks


def conv_block(x, growth_rate, name, bottleneck=True, dropout=0.0):
    """BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k), concatenated to the input."""
    y = x
    if bottleneck:
        y = _bn(f"{name}_0_bn")(y)
        y = layers.Activation("relu", name=f"{name}_0_relu")(y)
        y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(y)
        if dropout:
            y = layers.Dropout(dropout, name=f"{name}_1_drop")(y)
    y = _bn(f"{name}_1_bn")(y)
    y = layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_2_drop")(y)
    return layers.Concatenate(axis=-1, name=f"{name}_concat")([x, y])  # (b, h, w, c + k)


def dense_block(x, num_layers, growth_rate, name, bottleneck=True, dropout=0.0):
    for i in range(num_layers):
        x = conv_block(x, growth_rate, f"{name}_block{i + 1}", bottleneck, dropout)
    return x


def transition_block(x, compression, name):
    """BN-ReLU-Conv1x1 (channels x compression)-AvgPool 2x2."""
    x = _bn(f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(x.shape[-1] * compression), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


# --------------------------------------------------------------------------
# Model builder


def DenseNet(
    blocks=(6, 12, 24, 16),
    growth_rate=32,
    stem="imagenet",
    compression=0.5,
    bottleneck=True,
    dropout=0.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet",
    weights_name=None,
):
    """DenseNet with either the ImageNet or the CIFAR stem.

    Args:
        blocks: layers per dense block, e.g. `(6, 12, 24, 16)` for 121.
        growth_rate: k, the filters each layer adds.
        stem: `"imagenet"` (7x7/2 conv + 3x3/2 max-pool, 64 filters) or
            `"cifar"` (one 3x3 conv of 2k filters).
        compression: theta, channel factor at transitions (0.5 for "-C").
        bottleneck: 1x1 bottleneck before each 3x3 ("-B").
        dropout: dropout after each conv (0.2 in the paper without augmentation).
        Other args as in `zoo.resnet.ResNet`.
    """
    _common.check_positive_ints("blocks", blocks)
    _common.check_positive_int("growth_rate", growth_rate)
    _common.check_choice("stem", stem, ("imagenet", "cifar"))
    if not isinstance(compression, (int, float)) or not 0 < compression <= 1:
        raise ValueError(f"`compression` must be in (0, 1]. Received: compression={compression!r}")
    _common.check_rate("dropout", dropout)
    pretrained = _pretrained_files(weights_name, include_top)
    _common.check_image_args(
        include_top=include_top, weights=weights, pooling=pooling, classes=classes,
        pretrained=tuple(pretrained), pretrained_classes=1000,
    )
    imagenet_stem = stem == "imagenet"
    # Each transition halves the size; the ImageNet stem divides by 4 first.
    min_size = (4 if imagenet_stem else 1) * 2 ** (len(blocks) - 1)
    input_shape = _common.image_input_shape(
        input_shape,
        default_size=224 if imagenet_stem else 32,
        min_size=max(min_size, 8),
        include_top=include_top,
        weights=weights,
    )
    inputs = _common.image_inputs(input_shape, input_tensor)

    if imagenet_stem:
        x = _common.imagenet_stem(inputs, 64, use_bias=False, pool_name="pool1")  # (b, h/4, w/4, 64)
    else:
        x = layers.Conv2D(2 * growth_rate, 3, padding="same", use_bias=False, name="conv1_conv")(inputs)

    for i, num_layers in enumerate(blocks):
        x = dense_block(x, num_layers, growth_rate, f"conv{i + 2}", bottleneck, dropout)
        if i < len(blocks) - 1:
            x = transition_block(x, compression, f"pool{i + 2}")
    x = _bn("bn")(x)
    x = layers.Activation("relu", name="relu")(x)

    x = _common.image_head(
        x, include_top=include_top, pooling=pooling, classes=classes,
        classifier_activation=classifier_activation,
    )
    model = _common.task_model(_common.model_inputs(input_tensor, inputs), x, name=name, task="image_classification",
                                 include_top=include_top)
    return load_weights(model, weights, pretrained=pretrained)


# --------------------------------------------------------------------------
# Sizes and registered builders

IMAGENET_SIZES = {
    "densenet121": (6, 12, 24, 16),
    "densenet169": (6, 12, 32, 32),
    "densenet201": (6, 12, 48, 32),
}

_REF = "Huang et al. 2017, Densely Connected Convolutional Networks, arXiv:1608.06993"
_IMAGENET = dict(family="densenet", task="image_classification", input_shape=(224, 224, 3), reference=_REF, pretrained=("imagenet",))
_CIFAR = dict(family="densenet", task="image_classification", input_shape=(32, 32, 3), reference=_REF)


def _imagenet(name, **kwargs):
    kwargs.setdefault("name", name)
    return DenseNet(blocks=IMAGENET_SIZES[name], weights_name=name, **kwargs)


@register_model(**_IMAGENET)
def densenet121(**kwargs):
    """DenseNet-121, 8.1M parameters; keras.applications weights load."""
    return _imagenet("densenet121", **kwargs)


@register_model(**_IMAGENET)
def densenet169(**kwargs):
    """DenseNet-169, 14.3M parameters; keras.applications weights load."""
    return _imagenet("densenet169", **kwargs)


@register_model(**_IMAGENET)
def densenet201(**kwargs):
    """DenseNet-201, 20.2M parameters; keras.applications weights load."""
    return _imagenet("densenet201", **kwargs)


def _cifar_bc(depth, growth_rate, name, **kwargs):
    # Depth counts convs: stem + 2 per bottleneck layer x 3 blocks + 2
    # transitions + classifier, hence (depth - 4) / 6 layers per block.
    per_block = (depth - 4) // 6
    kwargs.setdefault("input_shape", (32, 32, 3))
    kwargs.setdefault("classes", 10)
    kwargs.setdefault("name", name)
    return DenseNet(
        blocks=(per_block,) * 3, growth_rate=growth_rate, stem="cifar",
        compression=0.5, bottleneck=True, **kwargs,
    )


@register_model(**_CIFAR)
def densenet_bc_100_k12(**kwargs):
    """DenseNet-BC (L=100, k=12) for CIFAR, 0.8M parameters (4.51% C10+ error)."""
    return _cifar_bc(100, 12, "densenet_bc_100_k12", **kwargs)


@register_model(**_CIFAR, tiny=True)
def densenet_tiny(**kwargs):
    """DenseNet-BC with 2 layers per block and k=8: for tests."""
    return _cifar_bc(16, 8, "densenet_tiny", **kwargs)
