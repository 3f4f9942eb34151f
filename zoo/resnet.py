"""ResNet for ImageNet (18-152, v1.5) and for CIFAR (20-110, option A).

References:
- He et al., "Deep Residual Learning for Image Recognition", CVPR 2016
  (https://arxiv.org/abs/1512.03385). ImageNet models: Table 1; CIFAR models:
  Section 4.2 (6n+2 layers, parameter-free "option A" shortcuts).
- ResNet v1.5 (stride 2 on the 3x3 convolution of a bottleneck, not the first
  1x1): NVIDIA DeepLearningExamples and torchvision's default.

The bottleneck models (50/101/152) use keras.applications' layer names, conv
biases and BatchNorm epsilon, so their parameter counts match it exactly and
its ImageNet weights load by name. Those weights were trained with the stride
in the 1x1 convolution (v1): `weights="imagenet"` therefore builds that layout
unless `stride_in_1x1` says otherwise.

Batch norm is `zoo.layers.BatchNormalization`: Keras' layer, with TensorFlow's
fused kernel in training. That kernel is where zoo's ResNet-50 gains its
training speed over keras.applications on the same backend
(`benchmarks/RESULTS.md`).

Example:

```python
from zoo import resnet50, resnet20
model = resnet50(weights=None, input_shape=(224, 224, 3), classes=1000)
cifar = resnet20(classes=10)            # 0.27M parameters, 32x32 inputs
```
"""

import keras
from keras import layers, ops

from zoo import _common
from zoo.registry import register_model
from zoo.weights import load_weights, written_by_keras2

_KAPP_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
_KAPP_HASHES = {  # (with top, without top), from keras.applications.resnet
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
}


def _pretrained_files(weights_name, include_top):
    return _common.kapp_pretrained_files(_KAPP_URL, _KAPP_HASHES, weights_name, include_top)


# --------------------------------------------------------------------------
# Blocks


_bn = _common.batch_norm


def _conv3x3(x, filters, stride, use_bias, name):
    if stride == 1:
        return layers.Conv2D(
            filters, 3, padding="same", use_bias=use_bias, name=f"{name}_conv"
        )(x)
    # TF's "same" pads asymmetrically for stride 2 (0 before, 1 after); an
    # explicit 1-pixel pad gives the symmetric window every other framework
    # (and the paper) uses.
    x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return layers.Conv2D(
        filters, 3, strides=stride, use_bias=use_bias, name=f"{name}_conv"
    )(x)


def basic_block(x, filters, stride, use_bias, name, conv_shortcut):
    """Two 3x3 convolutions (He et al. 2016, Fig. 5 left)."""
    shortcut = x
    if conv_shortcut:
        shortcut = layers.Conv2D(
            filters, 1, strides=stride, use_bias=use_bias, name=f"{name}_0_conv"
        )(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    x = _conv3x3(x, filters, stride, use_bias, f"{name}_1")
    x = _bn(f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = _conv3x3(x, filters, 1, use_bias, f"{name}_2")
    x = _bn(f"{name}_2_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def bottleneck_block(
    x, filters, stride, use_bias, name, conv_shortcut, stride_in_1x1=False
):
    """1x1 reduce, 3x3, 1x1 expand x4 (He et al. 2016, Fig. 5 right)."""
    shortcut = x
    if conv_shortcut:
        shortcut = layers.Conv2D(
            4 * filters, 1, strides=stride, use_bias=use_bias, name=f"{name}_0_conv"
        )(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
    x = layers.Conv2D(
        filters, 1, strides=stride_1x1, use_bias=use_bias, name=f"{name}_1_conv"
    )(x)
    x = _bn(f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = _conv3x3(x, filters, stride_3x3, use_bias, f"{name}_2")
    x = _bn(f"{name}_2_bn")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(x)
    x = layers.Conv2D(4 * filters, 1, use_bias=use_bias, name=f"{name}_3_conv")(x)
    x = _bn(f"{name}_3_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


@keras.saving.register_keras_serializable(package="zoo")
class ZeroPadShortcut(layers.Layer):
    """Parameter-free "option A" shortcut of the CIFAR ResNets.

    Subsamples by `strides` and zero-pads the channel axis up to `filters`
    (He et al. 2016, Section 4.2, https://arxiv.org/abs/1512.03385).

    Example:

    ```python
    import numpy as np
    y = ZeroPadShortcut(filters=32, strides=2)(np.ones((1, 8, 8, 16), "float32"))
    y.shape  # (1, 4, 4, 32)
    ```
    """

    def __init__(self, filters, strides=2, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.strides = strides

    def call(self, inputs):
        x = inputs
        if self.strides > 1:
            # A 1x1 max-pool is exactly x[:, ::s, ::s] and lowers to builtin
            # ops everywhere (TFLite, ONNX), unlike a strided slice.
            x = ops.max_pool(x, pool_size=1, strides=self.strides, padding="valid")
        extra = self.filters - inputs.shape[-1]
        if extra > 0:
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.strides > 1:
            height = None if height is None else (height - 1) // self.strides + 1
            width = None if width is None else (width - 1) // self.strides + 1
        return (batch, height, width, max(self.filters, input_shape[-1]))

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "strides": self.strides})
        return config


def cifar_block(x, filters, stride, name):
    """Basic block with an option-A shortcut wherever the shape changes."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = ZeroPadShortcut(filters, stride, name=f"{name}_0_shortcut")(x)
    x = _conv3x3(x, filters, stride, False, f"{name}_1")
    x = _bn(f"{name}_1_bn")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(x)
    x = _conv3x3(x, filters, 1, False, f"{name}_2")
    x = _bn(f"{name}_2_bn")(x)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


# --------------------------------------------------------------------------
# Model builders


def _check_resnet_args(block, stage_blocks, width, include_top, weights, input_shape, pooling, classes,
                       stride_in_1x1, use_bias, weights_name):
    """Validate `ResNet`'s arguments; returns (pretrained files, stride_in_1x1, use_bias, input_shape)."""
    _common.check_choice("block", block, ("basic", "bottleneck"))
    _common.check_positive_ints("stage_blocks", stage_blocks)
    _common.check_positive_int("width", width)
    pretrained = _pretrained_files(weights_name, include_top)
    _common.check_image_args(
        include_top=include_top,
        weights=weights,
        pooling=pooling,
        classes=classes,
        pretrained=tuple(pretrained),
        pretrained_classes=1000,
    )
    # keras.applications' files (downloaded, or a path to one: written by Keras 2) hold v1 weights.
    v1_weights = weights is not None and (weights in pretrained or written_by_keras2(weights))
    if v1_weights and stride_in_1x1 is False:
        raise ValueError(
            "keras.applications' ImageNet weights (and every Keras 2 `.h5` ResNet file) were trained with "
            "the stride in the first 1x1 convolution; `stride_in_1x1=False` (v1.5) would give a different "
            "network. Leave `stride_in_1x1` unset or True. "
            f"Received: weights={weights!r}, stride_in_1x1={stride_in_1x1}"
        )
    if stride_in_1x1 is None:
        stride_in_1x1 = v1_weights
    if use_bias is None:
        use_bias = block == "bottleneck"
    min_size = 32
    input_shape = _common.image_input_shape(
        input_shape,
        default_size=224,
        min_size=min_size,
        include_top=include_top,
        weights=weights,
    )
    return pretrained, stride_in_1x1, use_bias, input_shape


def ResNet(
    block="bottleneck",
    stage_blocks=(3, 4, 6, 3),
    width=64,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    stride_in_1x1=None,
    use_bias=None,
    name="resnet",
    weights_name=None,
):
    """ImageNet-style ResNet: 7x7/2 stem, 3x3/2 max-pool, four stages.

    Args:
        block: `"basic"` (ResNet-18/34) or `"bottleneck"` (50 and deeper).
        stage_blocks: blocks per stage, e.g. `(3, 4, 6, 3)` for ResNet-50.
        width: filters of the stem and the first stage (doubles per stage).
        include_top: whether to add global average pooling and the classifier.
        weights: `None`, `"imagenet"` (ResNet-50/101/152 only), or a file path.
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: `(height, width, channels)`; at least 32x32.
        pooling: `None`, `"avg"` or `"max"`, when `include_top=False`.
        classes: number of classes, when `include_top=True`.
        classifier_activation: activation of the classifier (`None` = logits).
        stride_in_1x1: bottleneck stride on the first 1x1 conv (v1,
            keras.applications) instead of the 3x3 conv (v1.5). Default: v1
            when loading `"imagenet"` weights, else v1.5.
        use_bias: biases on the convolutions. Default: `True` for
            bottlenecks (keras.applications parity), `False` for basic blocks
            (torchvision parity).
        name: model name.
        weights_name: key for the pretrained file table (`"resnet50"`, ...).
    """
    pretrained, stride_in_1x1, use_bias, input_shape = _check_resnet_args(
        block, stage_blocks, width, include_top, weights, input_shape, pooling, classes, stride_in_1x1,
        use_bias, weights_name)
    inputs = _common.image_inputs(input_shape, input_tensor)
    x = _common.imagenet_stem(inputs, width, use_bias=use_bias, pool_name="pool1_pool")  # (b, h/4, w/4, c)
    x = _stages(x, block, stage_blocks, width, use_bias, stride_in_1x1)
    x = _common.image_head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    model = _common.task_model(_common.model_inputs(input_tensor, inputs), x, name=name,
                               task="image_classification", include_top=include_top)
    return load_weights(model, weights, pretrained=pretrained)


def _stages(x, block, stage_blocks, width, use_bias, stride_in_1x1):
    """The four stages of an ImageNet ResNet; each after the first halves the size."""
    expansion = 4 if block == "bottleneck" else 1
    for stage, num_blocks in enumerate(stage_blocks):
        filters = width * 2**stage
        for i in range(num_blocks):
            stride = 2 if (i == 0 and stage > 0) else 1
            block_name = f"conv{stage + 2}_block{i + 1}"
            conv_shortcut = i == 0 and (
                stride != 1 or x.shape[-1] != filters * expansion
            )
            if block == "bottleneck":
                x = bottleneck_block(
                    x, filters, stride, use_bias, block_name, conv_shortcut,
                    stride_in_1x1=stride_in_1x1,
                )
            else:
                x = basic_block(x, filters, stride, use_bias, block_name, conv_shortcut)
    return x


def CifarResNet(
    depth=20,
    width=16,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=(32, 32, 3),
    pooling=None,
    classes=10,
    classifier_activation="softmax",
    name=None,
):
    """CIFAR ResNet with 6n+2 layers (He et al. 2016, Section 4.2).

    Args:
        depth: 6n+2 (20, 32, 44, 56, 110, ...).
        width: filters of the first stage (16 in the paper; x2 per stage).
        Other args as in `ResNet`; inputs must be at least 8x8.
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            "`depth` of a CIFAR ResNet must be 6n+2 with n >= 1 (8, 20, 32, 44, "
            f"56, 110, ...). Received: depth={depth!r}"
        )
    _common.check_positive_int("width", width)
    _common.check_image_args(
        include_top=include_top,
        weights=weights,
        pooling=pooling,
        classes=classes,
        pretrained=(),
        pretrained_classes=None,
    )
    input_shape = _common.image_input_shape(
        input_shape, default_size=32, min_size=8, include_top=include_top, weights=weights
    )
    inputs = _common.image_inputs(input_shape, input_tensor)
    n = (depth - 2) // 6

    x = layers.Conv2D(width, 3, padding="same", use_bias=False, name="conv1_conv")(inputs)
    x = _bn("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    for stage in range(3):  # (b, 32, 32, 16) -> (b, 16, 16, 32) -> (b, 8, 8, 64)
        for i in range(n):
            stride = 2 if (i == 0 and stage > 0) else 1
            x = cifar_block(x, width * 2**stage, stride, f"conv{stage + 2}_block{i + 1}")

    x = _common.image_head(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    model = _common.task_model(_common.model_inputs(input_tensor, inputs), x, name=name or f"resnet{depth}",
                               task="image_classification", include_top=include_top)
    return load_weights(model, weights)


# --------------------------------------------------------------------------
# Sizes and registered builders

IMAGENET_SIZES = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}

_REF = "He et al. 2016, Deep Residual Learning for Image Recognition, arXiv:1512.03385"
_IMAGENET = dict(family="resnet", task="image_classification", input_shape=(224, 224, 3), reference=_REF)
_CIFAR = dict(family="resnet", task="image_classification", input_shape=(32, 32, 3), reference=_REF + " (Sec. 4.2, option A)")


def _imagenet(name, **kwargs):
    block, stage_blocks = IMAGENET_SIZES[name]
    kwargs.setdefault("name", name)
    return ResNet(block=block, stage_blocks=stage_blocks, weights_name=name, **kwargs)


@register_model(**_IMAGENET)
def resnet18(**kwargs):
    """ResNet-18 (basic blocks), 11.7M parameters."""
    return _imagenet("resnet18", **kwargs)


@register_model(**_IMAGENET)
def resnet34(**kwargs):
    """ResNet-34 (basic blocks), 21.8M parameters."""
    return _imagenet("resnet34", **kwargs)


@register_model(**_IMAGENET, pretrained=("imagenet",))
def resnet50(**kwargs):
    """ResNet-50 v1.5, 25.6M parameters; keras.applications weights load."""
    return _imagenet("resnet50", **kwargs)


@register_model(**_IMAGENET, pretrained=("imagenet",))
def resnet101(**kwargs):
    """ResNet-101 v1.5, 44.7M parameters; keras.applications weights load."""
    return _imagenet("resnet101", **kwargs)


@register_model(**_IMAGENET, pretrained=("imagenet",))
def resnet152(**kwargs):
    """ResNet-152 v1.5, 60.4M parameters; keras.applications weights load."""
    return _imagenet("resnet152", **kwargs)


@register_model(**{**_IMAGENET, "input_shape": (32, 32, 3)}, tiny=True)
def resnet_tiny(**kwargs):
    """Bottleneck ResNet with one block per stage and width 8: for tests."""
    kwargs.setdefault("input_shape", (32, 32, 3))
    kwargs.setdefault("classes", 10)
    kwargs.setdefault("name", "resnet_tiny")
    return ResNet(block="bottleneck", stage_blocks=(1, 1, 1, 1), width=8, **kwargs)


@register_model(**_CIFAR)
def resnet20(**kwargs):
    """CIFAR ResNet-20, 0.27M parameters (8.75% error in the paper)."""
    return CifarResNet(depth=20, **kwargs)


@register_model(**_CIFAR)
def resnet32(**kwargs):
    """CIFAR ResNet-32, 0.46M parameters."""
    return CifarResNet(depth=32, **kwargs)


@register_model(**_CIFAR)
def resnet44(**kwargs):
    """CIFAR ResNet-44, 0.66M parameters."""
    return CifarResNet(depth=44, **kwargs)


@register_model(**_CIFAR)
def resnet56(**kwargs):
    """CIFAR ResNet-56, 0.85M parameters."""
    return CifarResNet(depth=56, **kwargs)


@register_model(**_CIFAR)
def resnet110(**kwargs):
    """CIFAR ResNet-110, 1.7M parameters."""
    return CifarResNet(depth=110, **kwargs)


@register_model(**_CIFAR, tiny=True)
def resnet8(**kwargs):
    """CIFAR ResNet-8 (n=1), 78K parameters: the tiny CIFAR variant."""
    return CifarResNet(depth=8, **kwargs)
