"""MobileNetV2: inverted residual blocks with linear bottlenecks, for phones and edge devices.

Reference: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018
(https://arxiv.org/abs/1801.04381). The ImageNet model follows keras.applications layer for layer
(names, BatchNorm epsilon 1e-3, the width multiplier `alpha` rounded to multiples of 8), so parameter
counts match and its ImageNet weights load by name (`weights="imagenet"`, `alpha` in 0.35-1.4, square
inputs of 96-224 pixels). Its inputs are pixels scaled to [-1, 1], as keras.applications'
`mobilenet_v2.preprocess_input` does: the zoo's pipelines feed what a model was trained on.

`mobilenet_v2_cifar` is the common 32x32 variant: the stem and the first stride-2 block at stride 1,
so 32x32 images reach the last block at 4x4 (ImageNet's layout would leave 1x1).

Example:

```python
from zoo import mobilenet_v2, mobilenet_v2_cifar
model = mobilenet_v2(weights=None)                 # 3,538,984 parameters
small = mobilenet_v2(alpha=0.35, weights=None)     # 1,691,208 parameters
cifar = mobilenet_v2_cifar(classes=10)             # 2,270,794 parameters
```
"""

from keras import layers

from zoo import _common
from zoo.registry import register_model
from zoo.weights import load_weights

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


def _same_pad_for_stride_2(x, kernel_size, name):
    """TF's 'same' padding for a strided convolution, made explicit (keras.applications' `correct_pad`):
    ONNX and LiteRT get a plain pad + 'valid' convolution, and the weights see the pixels they were
    trained on."""
    size = x.shape[1:3]
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size // 2, kernel_size // 2)
    return layers.ZeroPadding2D(((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1])),
                                name=name)(x)


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
        x = _same_pad_for_stride_2(x, 3, f"{prefix}pad")
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
