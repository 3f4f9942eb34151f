"""MobileNetV2 and MobileNetV3: inverted residual blocks with linear bottlenecks, for phones and edge devices.

References: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018
(https://arxiv.org/abs/1801.04381); Howard et al., "Searching for MobileNetV3", ICCV 2019
(https://arxiv.org/abs/1905.02244). The ImageNet model follows keras.applications layer for layer
(names, BatchNorm epsilon 1e-3, the width multiplier `alpha` rounded to multiples of 8), so parameter
counts match and its ImageNet weights load by name (`weights="imagenet"`, `alpha` in 0.35-1.4, square
inputs of 96-224 pixels). Its inputs are pixels scaled to [-1, 1], as keras.applications'
`mobilenet_v2.preprocess_input` does: the zoo's pipelines feed what a model was trained on.

`mobilenet_v2_cifar` is the common 32x32 variant: the stem and the first stride-2 block at stride 1,
so 32x32 images reach the last block at 4x4 (ImageNet's layout would leave 1x1).

MobileNetV3 (Small and Large, and their `minimalistic` variants: ReLU and 3x3 kernels only, no
squeeze-excite -- the ones that quantize and delegate most easily) adds squeeze-excite and hard-swish to
the V2 block and a convolutional head; it too follows keras.applications layer for layer (its weights
load by name). Its inputs are pixels in [-1, 1]; `include_preprocessing=True` puts keras.applications'
`Rescaling` in front for 0-255 pixels.

Example:

```python
from zoo import mobilenet_v2, mobilenet_v2_cifar
model = mobilenet_v2(weights=None)                 # 3,538,984 parameters
small = mobilenet_v2(alpha=0.35, weights=None)     # 1,691,208 parameters
cifar = mobilenet_v2_cifar(classes=10)             # 2,270,794 parameters
v3 = mobilenet_v3_large(weights=None)              # 5,507,432 parameters
```
"""

from keras import layers

from zoo import _common
from zoo.registry import register_model
from zoo.weights import keras_applications_resolver, load_weights

_KAPP_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)  # keras.applications' ImageNet weights
IMAGENET_SIZES = (96, 128, 160, 192, 224)
BN_EPSILON = 1e-3  # keras.applications' MobileNetV2 value: its weights assume it


def _bn(name):
    return _common.batch_norm(name, epsilon=BN_EPSILON)


def make_divisible(value, divisor=8, min_value=None):
    """`value` rounded to a multiple of `divisor`, never more than 10% below it (the TF reference's rule,
    shared by MobileNetV2/V3 and EfficientNet: channel counts stay friendly to SIMD widths)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


# --------------------------------------------------------------------------
# Blocks


def inverted_res_block(inputs, *, expansion, stride, filters, block_id):
    """Expand (1x1, ReLU6) -> depthwise 3x3 (ReLU6) -> project (1x1, linear), plus the input when the
    shapes allow. The projection has no activation: ReLU on a low-dimensional bottleneck destroys
    information (the paper's "linear bottleneck")."""
    in_channels = inputs.shape[-1]
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    x = inputs
    if block_id:  # the first block has expansion 1: no expansion convolution
        x = layers.Conv2D(expansion * in_channels, 1, padding="same", use_bias=False, name=f"{prefix}expand")(x)
        x = _bn(f"{prefix}expand_BN")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)  # (b, h, w, t * c)
    if stride == 2:
        x = _common.pad_for_stride_2(x, 3, f"{prefix}pad")
    x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False, padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = _bn(f"{prefix}depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)  # (b, h / s, w / s, t * c)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _bn(f"{prefix}project_BN")(x)  # (b, h / s, w / s, filters): linear
    if in_channels == filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


# --------------------------------------------------------------------------
# Model builder

# (expansion t, output channels c, repeats n, first stride s): the paper's Table 2.
V2_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
             (6, 320, 1, 1))


def MobileNetV2(
    alpha=1.0,
    blocks=V2_BLOCKS,
    cifar_strides=False,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
):
    """MobileNetV2.

    Args:
        alpha: width multiplier (0.35-1.4 have ImageNet weights); channels are rounded to multiples of 8,
            the last 1x1 convolution keeps 1280 channels below 1.0 (the paper).
        blocks: `(expansion, channels, repeats, first stride)` per stage (`V2_BLOCKS`).
        cifar_strides: the stem and the first stride-2 stage at stride 1 (for 32x32 inputs).
        Other args as in keras.applications.MobileNetV2.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 4:
        raise ValueError(f"`alpha` must be a number in (0, 4]. Received: alpha={alpha!r}")
    if not isinstance(blocks, (list, tuple)) or not blocks or not all(
            isinstance(b, (list, tuple)) and len(b) == 4 and all(isinstance(v, int) and v >= 1 for v in b)
            and b[3] in (1, 2) for b in blocks):
        raise ValueError("`blocks` must be a non-empty sequence of (expansion, channels, repeats, stride) with "
                         f"positive integers and strides 1 or 2. Received: blocks={blocks!r}")
    pretrained = _pretrained_files(alpha, include_top, input_shape, blocks, cifar_strides)
    if weights == "imagenet" and not pretrained:
        raise ValueError(f"ImageNet weights (keras.applications' files) exist for MobileNetV2 with `alpha` in "
                         f"{list(ALPHAS)}, the paper's blocks and ImageNet strides. Received: alpha={alpha!r}, "
                         f"cifar_strides={cifar_strides!r}")
    _common.check_image_args(include_top=include_top, weights=weights, pooling=pooling, classes=classes,
                             pretrained=tuple(pretrained), pretrained_classes=1000)
    strides = [b[3] for b in blocks]
    if cifar_strides:
        strides[strides.index(2)] = 1
    total_stride = (1 if cifar_strides else 2) * 2 ** strides.count(2)
    input_shape = _common.image_input_shape(input_shape, default_size=32 if cifar_strides else 224,
                                            min_size=total_stride, include_top=include_top,
                                            weights=weights)
    inputs = _common.image_inputs(input_shape, input_tensor)

    x = layers.Conv2D(make_divisible(32 * alpha), 3, strides=1 if cifar_strides else 2, padding="same",
                      use_bias=False, name="Conv1")(inputs)
    x = _bn("bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)  # (b, h / 2, w / 2, 32 alpha)
    block_id = 0
    for (expansion, channels, repeats, _), stride in zip(blocks, strides):
        for i in range(repeats):
            x = inverted_res_block(x, expansion=expansion, stride=stride if i == 0 else 1,
                                   filters=make_divisible(int(channels * alpha)), block_id=block_id)
            block_id += 1
    # No width multiplier below 1.0 on the last convolution: the classifier keeps its 1280 features.
    x = layers.Conv2D(make_divisible(1280 * alpha) if alpha > 1.0 else 1280, 1, use_bias=False, name="Conv_1")(x)
    x = _bn("Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)  # (b, h / 32, w / 32, 1280)

    x = _common.image_head(x, include_top=include_top, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation)
    model = _common.task_model(_common.model_inputs(input_tensor, inputs), x,
                               name=name or f"mobilenet_v2_{alpha:g}", task="image_classification",
                               include_top=include_top)
    return load_weights(model, weights, pretrained=pretrained)


def _pretrained_files(alpha, include_top, input_shape, blocks, cifar_strides):
    """keras.applications' ImageNet file for this width and input size (`{}` where it has none). Its
    files carry no published hash, so none is checked (as keras.applications does)."""
    if alpha not in ALPHAS or tuple(blocks) != V2_BLOCKS or cifar_strides:
        return {}
    rows = input_shape[0] if input_shape and input_shape[0] == input_shape[1] else None
    rows = rows if rows in IMAGENET_SIZES else 224  # keras.applications' choice: its convolutions take any size
    suffix = "" if include_top else "_no_top"
    file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{suffix}.h5"
    return {"imagenet": (file_name, _KAPP_URL + file_name, None)}


# --------------------------------------------------------------------------
# MobileNetV3 blocks


def _act(x, kind, name):
    """ReLU, or hard-swish (x * ReLU6(x + 3) / 6: swish's shape from ops every runtime has)."""
    if kind == "relu":
        return layers.ReLU(name=name)(x)
    return layers.Activation("hard_swish", name=name)(x)


def squeeze_excite(inputs, filters, se_ratio, prefix):
    """Channel attention (Hu et al. 2018): global pool -> 1x1 (ReLU) -> 1x1 (hard sigmoid) -> scale."""
    x = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}squeeze_excite_avg_pool")(inputs)  # (b, 1, 1, c)
    x = layers.Conv2D(make_divisible(filters * se_ratio), 1, padding="same", name=f"{prefix}squeeze_excite_conv")(x)
    x = layers.ReLU(name=f"{prefix}squeeze_excite_relu")(x)
    x = layers.Conv2D(filters, 1, padding="same", name=f"{prefix}squeeze_excite_conv_1")(x)
    x = layers.Activation("hard_sigmoid", name=f"{prefix}squeeze_excite_hard_sigmoid")(x)  # relu6(x + 3) / 6
    return layers.Multiply(name=f"{prefix}squeeze_excite_mul")([inputs, x])  # (b, h, w, c)


def v3_block(x, *, expansion, filters, kernel_size, stride, se_ratio, activation, block_id):
    """The V2 block with a k x k depthwise convolution, optional squeeze-excite before the projection and
    the stage's activation (ReLU or hard-swish)."""
    shortcut, in_channels = x, x.shape[-1]
    prefix = f"expanded_conv_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = layers.Conv2D(make_divisible(in_channels * expansion), 1, padding="same", use_bias=False,
                          name=f"{prefix}expand")(x)
        x = _bn(f"{prefix}expand_bn")(x)
        x = _act(x, activation, f"{prefix}expand_act")  # (b, h, w, t * c)
    if stride == 2:
        x = _common.pad_for_stride_2(x, kernel_size, f"{prefix}depthwise_pad")
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                               use_bias=False, name=f"{prefix}depthwise")(x)
    x = _bn(f"{prefix}depthwise_bn")(x)
    x = _act(x, activation, f"{prefix}depthwise_act")  # (b, h / s, w / s, t * c)
    if se_ratio:
        x = squeeze_excite(x, make_divisible(in_channels * expansion), se_ratio, prefix)
    x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{prefix}project")(x)
    x = _bn(f"{prefix}project_bn")(x)  # linear bottleneck
    if stride == 1 and in_channels == filters:
        x = layers.Add(name=f"{prefix}add")([shortcut, x])
    return x


# (expansion, channels, kernel, stride, squeeze-excite, activation): the paper's Tables 1 and 2. Kernel 5
# becomes 3, every activation ReLU and no block squeeze-excite in the minimalistic variants.
V3_SMALL = ((1, 16, 3, 2, True, "relu"), (72 / 16, 24, 3, 2, False, "relu"), (88 / 24, 24, 3, 1, False, "relu"),
            (4, 40, 5, 2, True, "hswish"), (6, 40, 5, 1, True, "hswish"), (6, 40, 5, 1, True, "hswish"),
            (3, 48, 5, 1, True, "hswish"), (3, 48, 5, 1, True, "hswish"), (6, 96, 5, 2, True, "hswish"),
            (6, 96, 5, 1, True, "hswish"), (6, 96, 5, 1, True, "hswish"))
V3_LARGE = ((1, 16, 3, 1, False, "relu"), (4, 24, 3, 2, False, "relu"), (3, 24, 3, 1, False, "relu"),
            (3, 40, 5, 2, True, "relu"), (3, 40, 5, 1, True, "relu"), (3, 40, 5, 1, True, "relu"),
            (6, 80, 3, 2, False, "hswish"), (2.5, 80, 3, 1, False, "hswish"), (2.3, 80, 3, 1, False, "hswish"),
            (2.3, 80, 3, 1, False, "hswish"), (6, 112, 3, 1, True, "hswish"), (6, 112, 3, 1, True, "hswish"),
            (6, 160, 5, 2, True, "hswish"), (6, 160, 5, 1, True, "hswish"), (6, 160, 5, 1, True, "hswish"))
V3_SIZES = {"small": (V3_SMALL, 1024), "large": (V3_LARGE, 1280)}
V3_ALPHAS = {False: (0.75, 1.0), True: (1.0,)}  # keras.applications' ImageNet weights, by `minimalistic`
_V3_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v3/"
_V3_HASHES = {  # (with top, without top), from keras.applications.mobilenet_v3
    "large_224_0.75_float": ("765b44a33ad4005b3ac83185abf1d0eb", "40af19a13ebea4e2ee0c676887f69a2e"),
    "large_224_1.0_float": ("59e551e166be033d707958cf9e29a6a7", "07fb09a5933dd0c8eaafa16978110389"),
    "large_minimalistic_224_1.0_float": ("675e7b876c45c57e9e63e6d90a36599c", "ec5221f64a2f6d1ef965a614bdae7973"),
    "small_224_0.75_float": ("cb65d4e5be93758266aa0a7f2c6708b7", "ebdb5cc8e0b497cd13a7c275d475c819"),
    "small_224_1.0_float": ("8768d4c2e7dee89b9d02b2d03d65d862", "d3e8ec802a04aa4fc771ee12a9a9b836"),
    "small_minimalistic_224_1.0_float": ("99cd97fb2fcdad2bf028eb838de69e37", "cde8136e733e811080d9fcd8a252f7e4"),
}


def MobileNetV3(
    size="large",
    alpha=1.0,
    minimalistic=False,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    dropout_rate=0.2,
    classifier_activation="softmax",
    include_preprocessing=False,
    name=None,
):
    """MobileNetV3.

    Args:
        size: `"small"` or `"large"` (`V3_SIZES`).
        alpha: width multiplier (keras.applications' ImageNet weights: 0.75 and 1.0; 1.0 when minimalistic).
        minimalistic: ReLU and 3x3 kernels only, no squeeze-excite.
        dropout_rate: before the classifier.
        include_preprocessing: a `Rescaling` layer first, so the model takes pixels in [0, 255].
        Other args as in keras.applications.MobileNetV3Large.
    """
    _common.check_choice("size", size, tuple(V3_SIZES))
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha <= 4:
        raise ValueError(f"`alpha` must be a number in (0, 4]. Received: alpha={alpha!r}")
    _common.check_rate("dropout_rate", dropout_rate)
    pretrained = _v3_pretrained_files(size, alpha, minimalistic, include_top)
    if weights == "imagenet" and not pretrained:
        raise ValueError(f"ImageNet weights (keras.applications' files) exist for MobileNetV3 with `alpha` in "
                         f"{list(V3_ALPHAS[bool(minimalistic)])} (minimalistic={bool(minimalistic)}). Received: "
                         f"alpha={alpha!r}")
    _common.check_image_args(include_top=include_top, weights=weights, pooling=pooling, classes=classes,
                             pretrained=tuple(pretrained), pretrained_classes=1000)
    input_shape = _common.image_input_shape(input_shape, default_size=224, min_size=32, include_top=include_top,
                                            weights=weights)
    inputs = _common.image_inputs(input_shape, input_tensor)
    blocks, last_point = V3_SIZES[size]
    act = "relu" if minimalistic else "hswish"

    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescaling")(inputs) if include_preprocessing else inputs
    x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="conv")(x)
    x = _bn("conv_bn")(x)
    x = _act(x, act, "conv_act")  # (b, h / 2, w / 2, 16)
    for block_id, (expansion, channels, kernel, stride, se, block_act) in enumerate(blocks):
        x = v3_block(x, expansion=expansion, filters=make_divisible(channels * alpha),
                     kernel_size=3 if minimalistic else kernel, stride=stride,
                     se_ratio=0.25 if se and not minimalistic else None,
                     activation="relu" if minimalistic else block_act, block_id=block_id)
    x = layers.Conv2D(make_divisible(x.shape[-1] * 6), 1, padding="same", use_bias=False, name="conv_1")(x)
    x = _bn("conv_1_bn")(x)
    x = _act(x, act, "conv_1_act")  # (b, h / 32, w / 32, 6 c)
    if include_top:  # a 1x1-convolution head on the pooled features (the paper's efficient last stage)
        x = layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        x = layers.Conv2D(make_divisible(last_point * alpha) if alpha > 1.0 else last_point, 1, padding="same",
                          name="conv_2")(x)
        x = _act(x, act, "conv_2_act")
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="dropout")(x)
        x = layers.Conv2D(classes, 1, padding="same", dtype=_common.head_dtype(), name="logits")(x)
        x = layers.Flatten(name="flatten")(x)  # (b, classes)
        x = layers.Activation(classifier_activation, dtype=_common.head_dtype(), name="predictions")(x)
    else:
        x = _common.image_head(x, include_top=False, pooling=pooling, classes=classes,
                               classifier_activation=classifier_activation)
    model = _common.task_model(_common.model_inputs(input_tensor, inputs), x,
                               name=name or f"mobilenet_v3_{size}", task="image_classification",
                               include_top=include_top)
    return load_weights(model, weights, pretrained=pretrained)


@keras_applications_resolver
def keras_applications_arguments(kapp_model):
    """`(registered name, builder arguments)` of a keras.applications MobileNetV2/V3 model (None if it is
    neither): V2's name holds its width (`mobilenetv2_0.75_224`); V3's width is the one whose rounding gives
    its blocks' channels, and it is minimalistic when it has no squeeze-excite."""
    import re

    found = re.fullmatch(r"mobilenetv2_(\d+\.\d+)_\d+", kapp_model.name)
    if found:
        return "mobilenet_v2", {"alpha": float(found.group(1))}
    size = {"MobileNetV3Small": "small", "MobileNetV3Large": "large"}.get(kapp_model.name)
    if size is None:
        return None
    names = {layer.name: layer for layer in kapp_model.layers}
    channels = [names[f"expanded_conv_{i}_project" if i else "expanded_conv_project"].filters
                for i in range(len(V3_SIZES[size][0]))]
    alpha = next((a / 100 for a in range(5, 401) if all(
        make_divisible(c * a / 100) == n for (_, c, *_), n in zip(V3_SIZES[size][0], channels))), None)
    minimalistic = not any("squeeze_excite" in name for name in names)
    preprocessing = any(isinstance(layer, layers.Rescaling) for layer in kapp_model.layers)
    return (f"mobilenet_v3_{size}{'_minimalistic' if minimalistic else ''}",
            {"alpha": alpha, "include_preprocessing": preprocessing})


def _v3_pretrained_files(size, alpha, minimalistic, include_top):
    if alpha not in V3_ALPHAS[bool(minimalistic)]:
        return {}
    key = f"{size}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"
    file_name = f"weights_mobilenet_v3_{key}.h5" if include_top else f"weights_mobilenet_v3_{key}_no_top_v2.h5"
    return {"imagenet": (file_name, _V3_URL + file_name, _V3_HASHES[key][0 if include_top else 1])}


# --------------------------------------------------------------------------
# Registered builders

_REF = "Sandler et al. 2018, MobileNetV2: Inverted Residuals and Linear Bottlenecks, arXiv:1801.04381"
_IMAGENET = dict(family="mobilenet", task="image_classification", input_shape=(224, 224, 3), reference=_REF,
                 pretrained=("imagenet",))
_CIFAR = dict(family="mobilenet", task="image_classification", input_shape=(32, 32, 3), reference=_REF)


@register_model(**_IMAGENET)
def mobilenet_v2(alpha=1.0, **kwargs):
    """MobileNetV2 (`alpha` 1.0: 3.5M parameters, 300M multiply-adds at 224x224); keras.applications
    weights load."""
    kwargs.setdefault("name", "mobilenet_v2" if alpha == 1.0 else f"mobilenet_v2_{alpha:g}")
    return MobileNetV2(alpha=alpha, **kwargs)


@register_model(**_CIFAR)
def mobilenet_v2_cifar(alpha=1.0, **kwargs):
    """MobileNetV2 for 32x32 images: the stem and first stride-2 stage at stride 1 (2.3M parameters)."""
    kwargs.setdefault("input_shape", (32, 32, 3))
    kwargs.setdefault("classes", 10)
    kwargs.setdefault("name", "mobilenet_v2_cifar")
    return MobileNetV2(alpha=alpha, cifar_strides=True, **kwargs)


@register_model(**_CIFAR, tiny=True)
def mobilenet_v2_tiny(**kwargs):
    """MobileNetV2 blocks at width 0.25 with one block per stage, CIFAR strides: for tests."""
    kwargs.setdefault("input_shape", (32, 32, 3))
    kwargs.setdefault("classes", 10)
    kwargs.setdefault("name", "mobilenet_v2_tiny")
    blocks = tuple((t, c, 1, s) for t, c, _, s in V2_BLOCKS)
    return MobileNetV2(alpha=0.25, blocks=blocks, cifar_strides=True, **kwargs)


_V3_REF = "Howard et al. 2019, Searching for MobileNetV3, arXiv:1905.02244"
_V3_IMAGENET = dict(family="mobilenet", task="image_classification", input_shape=(224, 224, 3), reference=_V3_REF,
                    pretrained=("imagenet",))


def _v3(size, minimalistic, alpha, kwargs):
    kwargs.setdefault("name", f"mobilenet_v3_{size}{'_minimalistic' if minimalistic else ''}")
    return MobileNetV3(size=size, alpha=alpha, minimalistic=minimalistic, **kwargs)


@register_model(**_V3_IMAGENET)
def mobilenet_v3_small(alpha=1.0, **kwargs):
    """MobileNetV3-Small (2.55M parameters, 56M multiply-adds at 224x224); keras.applications weights load."""
    return _v3("small", False, alpha, kwargs)


@register_model(**_V3_IMAGENET)
def mobilenet_v3_large(alpha=1.0, **kwargs):
    """MobileNetV3-Large (5.51M parameters, 217M multiply-adds); keras.applications weights load."""
    return _v3("large", False, alpha, kwargs)


@register_model(**_V3_IMAGENET)
def mobilenet_v3_small_minimalistic(alpha=1.0, **kwargs):
    """MobileNetV3-Small with ReLU, 3x3 kernels and no squeeze-excite (what int8 and GPU delegates take)."""
    return _v3("small", True, alpha, kwargs)


@register_model(**_V3_IMAGENET)
def mobilenet_v3_large_minimalistic(alpha=1.0, **kwargs):
    """MobileNetV3-Large with ReLU, 3x3 kernels and no squeeze-excite."""
    return _v3("large", True, alpha, kwargs)


@register_model(**_CIFAR, tiny=True)
def mobilenet_v3_tiny(**kwargs):
    """MobileNetV3-Small blocks (squeeze-excite, hard-swish) at width 0.25 on 32x32 inputs: for tests."""
    kwargs.setdefault("input_shape", (32, 32, 3))
    kwargs.setdefault("classes", 10)
    kwargs.setdefault("dropout_rate", 0.0)
    return _v3("small", False, 0.25, {"name": "mobilenet_v3_tiny", **kwargs})
