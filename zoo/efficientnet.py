"""EfficientNet B0-B7 and EfficientNet-Lite0-4: compound-scaled MBConv networks, and their edge variants.

References: Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019
(https://arxiv.org/abs/1905.11946); EfficientNet-Lite (TensorFlow's TPU models repository,
`models/official/efficientnet/lite`, 2020): the same network without squeeze-excite, with ReLU6 instead of
swish and with the stem, the head and the first and last stages' repeats kept at B0's size when scaling --
the changes that make it quantize to int8 and run on mobile accelerators.

B0-B7 follow keras.applications layer for layer (names, BatchNorm epsilon 1e-3, channel rounding, depth
rounding, stochastic depth rising linearly to 0.2 over the blocks), so parameter counts match and its
ImageNet weights load by name. keras.applications puts its ImageNet input normalization inside the model;
here it is `include_preprocessing=True` (pixels 0-255 in: divided by 255, ImageNet mean/std), off by
default like every zoo image model, whose inputs the pipelines scale.

Example:

```python
from zoo import efficientnet_b0, efficientnet_lite0
model = efficientnet_b0(weights=None)     # 5,330,564 parameters (keras.applications' 5,330,571 less its
                                          # 7 input-normalization statistics)
lite = efficientnet_lite0(weights=None)   # 4,694,024 parameters, 4,652,008 trainable (TensorFlow's count)
```
"""

import math

from keras import layers

from zoo import _common
from zoo.layers import DropPath
from zoo.mobilenet import make_divisible
from zoo.registry import register_model
from zoo.weights import load_weights

_KAPP_URL = "https://storage.googleapis.com/keras-applications/"
_KAPP_HASHES = {  # (with top, without top), from keras.applications.efficientnet
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_EPSILON = 1e-3  # keras.applications' EfficientNet value: its weights assume it


def _bn(name):
    return _common.batch_norm(name, epsilon=BN_EPSILON)


# --------------------------------------------------------------------------
# Blocks


def mbconv_block(inputs, *, filters_in, filters_out, kernel_size, stride, expand_ratio, se_ratio, activation,
                 drop_rate, name):
    """MBConv: expand (1x1) -> depthwise k x k -> squeeze-excite (optional) -> project (1x1, linear), with
    stochastic depth on the residual branch."""
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"{name}expand_conv")(x)
        x = _bn(f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)  # (b, h, w, t * c)
    if stride == 2:
        x = _common.pad_for_stride_2(x, kernel_size, f"{name}dwconv_pad")
    x = layers.DepthwiseConv2D(kernel_size, strides=stride, padding="same" if stride == 1 else "valid",
                               use_bias=False, name=f"{name}dwconv")(x)
    x = _bn(f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)  # (b, h / s, w / s, t * c)
    if se_ratio:
        se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)  # (b, 1, 1, t * c)
        se = layers.Conv2D(max(1, int(filters_in * se_ratio)), 1, padding="same", activation=activation,
                           name=f"{name}se_reduce")(se)
        se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid", name=f"{name}se_expand")(se)
        x = layers.Multiply(name=f"{name}se_excite")([x, se])
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False, name=f"{name}project_conv")(x)
    x = _bn(f"{name}project_bn")(x)  # (b, h / s, w / s, filters_out): linear
    if stride == 1 and filters_in == filters_out:
        if drop_rate > 0:  # the whole branch dropped per example in training (stochastic depth)
            x = DropPath(drop_rate, scheduled=False, name=f"{name}drop")(x)
        x = layers.Add(name=f"{name}add")([x, inputs])
    return x


# --------------------------------------------------------------------------
# Model builder

# (kernel, repeats, channels in, channels out, expansion, stride): the paper's Table 1 (B0).
B0_BLOCKS = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
             (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1))


def EfficientNet(
    width_coefficient=1.0,
    depth_coefficient=1.0,
    default_size=224,
    dropout_rate=0.2,
    drop_connect_rate=0.2,
    lite=False,
    blocks=B0_BLOCKS,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=False,
    name="efficientnet",
    weights_name=None,
):
    """EfficientNet (or EfficientNet-Lite with `lite=True`).

    Args:
        width_coefficient, depth_coefficient: compound scaling of channels (rounded to multiples of 8) and
            repeats (rounded up).
        default_size: the input size of a classifier without `input_shape`.
        dropout_rate: before the classifier.
        drop_connect_rate: stochastic depth of the last block (linear in the block index from 0).
        lite: no squeeze-excite, ReLU6, stem/head and the first/last stages' repeats not scaled.
        blocks: `(kernel, repeats, channels in, channels out, expansion, stride)` per stage (`B0_BLOCKS`).
        include_preprocessing: pixels 0-255 in: divided by 255 and normalized with ImageNet's mean/std
            (what keras.applications' EfficientNets do inside the model).
        Other args as in keras.applications.EfficientNetB0.
    """
    for arg, value in (("width_coefficient", width_coefficient), ("depth_coefficient", depth_coefficient)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 10:
            raise ValueError(f"`{arg}` must be a number in (0, 10]. Received: {arg}={value!r}")
    _common.check_rate("dropout_rate", dropout_rate)
    _common.check_rate("drop_connect_rate", drop_connect_rate)
    pretrained = {} if lite or weights_name not in _KAPP_HASHES else {"imagenet": _kapp_file(weights_name, include_top)}
    if weights == "imagenet" and not pretrained:
        raise ValueError("ImageNet weights (keras.applications' files) exist for EfficientNet-B0 to B7 at their "
                         "own widths and depths; EfficientNet-Lite has none in keras.applications: train it "
                         f"(`zoo train`) or pass a weights file. Received: weights='imagenet', lite={lite!r}, "
                         f"weights_name={weights_name!r}")
    _common.check_image_args(include_top=include_top, weights=weights, pooling=pooling, classes=classes,
                             pretrained=tuple(pretrained), pretrained_classes=1000)
    input_shape = _common.image_input_shape(input_shape, default_size=default_size,
                                            min_size=2 ** (1 + sum(b[5] == 2 for b in blocks)),
                                            include_top=include_top, weights=weights)
    inputs = _common.image_inputs(input_shape, input_tensor)
    activation = "relu6" if lite else "swish"

    def channels(c, fixed=False):
        return c if fixed else make_divisible(c * width_coefficient)

    x = inputs
    if include_preprocessing:
        x = layers.Rescaling(1.0 / 255.0, name="rescaling")(x)
        x = layers.Normalization(mean=IMAGENET_MEAN, variance=[s * s for s in IMAGENET_STD], name="normalization")(x)
    x = _common.pad_for_stride_2(x, 3, "stem_conv_pad")
    x = layers.Conv2D(channels(32, lite), 3, strides=2, padding="valid", use_bias=False, name="stem_conv")(x)
    x = _bn("stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)  # (b, h / 2, w / 2, 32 w)
    x = _stages(x, blocks, channels, depth_coefficient, lite, activation, drop_connect_rate)
    x = layers.Conv2D(channels(1280, lite), 1, padding="same", use_bias=False, name="top_conv")(x)
    x = _bn("top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)  # (b, h / 32, w / 32, 1280 w)
    x = _common.image_head(x, include_top=include_top, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation, dropout=dropout_rate)
    model = _common.task_model(_common.model_inputs(input_tensor, inputs), x, name=name,
                               task="image_classification", include_top=include_top)
    return load_weights(model, weights, pretrained=pretrained)


def _stages(x, blocks, channels, depth_coefficient, lite, activation, drop_connect_rate):
    """The MBConv stages: repeats scaled by `depth_coefficient` (rounded up; Lite keeps the first and last
    stages' repeats), stochastic depth rising linearly over all blocks."""

    def repeats(n, fixed=False):
        return n if fixed else int(math.ceil(depth_coefficient * n))

    total = sum(repeats(b[1], lite and i in (0, len(blocks) - 1)) for i, b in enumerate(blocks))
    index = 0
    for i, (kernel, n, c_in, c_out, expansion, stride) in enumerate(blocks):
        fixed_first_last = lite and i in (0, len(blocks) - 1)
        c_in, c_out = channels(c_in, lite and i == 0), channels(c_out)
        for j in range(repeats(n, fixed_first_last)):
            x = mbconv_block(x, filters_in=c_in if j == 0 else c_out, filters_out=c_out, kernel_size=kernel,
                             stride=stride if j == 0 else 1, expand_ratio=expansion,
                             se_ratio=0 if lite else 0.25, activation=activation,
                             drop_rate=drop_connect_rate * index / total, name=f"block{i + 1}{chr(j + 97)}_")
            index += 1
    return x


def _kapp_file(weights_name, include_top):
    file_name = f"efficientnet{weights_name}{'' if include_top else '_notop'}.h5"
    return file_name, _KAPP_URL + file_name, _KAPP_HASHES[weights_name][0 if include_top else 1]


# --------------------------------------------------------------------------
# Sizes and registered builders

# name: (width, depth, input size, dropout), the paper's compound scaling (keras.applications' values).
SIZES = {
    "b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5),
}
LITE_SIZES = {  # TensorFlow's efficientnet_lite_builder.py
    "lite0": (1.0, 1.0, 224, 0.2), "lite1": (1.0, 1.1, 240, 0.2), "lite2": (1.1, 1.2, 260, 0.3),
    "lite3": (1.2, 1.4, 280, 0.3), "lite4": (1.4, 1.8, 300, 0.3),
}

_REF = "Tan & Le 2019, EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks, arXiv:1905.11946"
_LITE_REF = _REF + "; EfficientNet-Lite (TensorFlow TPU models, 2020)"


def _scaled(size, lite, kwargs):
    width, depth, default_size, dropout = (LITE_SIZES if lite else SIZES)[size]
    kwargs.setdefault("name", f"efficientnet_{size}")
    kwargs.setdefault("dropout_rate", dropout)
    return EfficientNet(width_coefficient=width, depth_coefficient=depth, default_size=default_size, lite=lite,
                        weights_name=None if lite else size, **kwargs)


def _spec(size, lite):
    width, depth, default_size, _ = (LITE_SIZES if lite else SIZES)[size]
    return dict(family="efficientnet", task="image_classification", input_shape=(default_size, default_size, 3),
                reference=_LITE_REF if lite else _REF, pretrained=() if lite else ("imagenet",))


@register_model(**_spec("b0", False))
def efficientnet_b0(**kwargs):
    """EfficientNet-B0, 5.3M parameters; keras.applications weights load."""
    return _scaled("b0", False, kwargs)

@register_model(**_spec("b1", False))
def efficientnet_b1(**kwargs):
    """EfficientNet-B1, 7.9M parameters; keras.applications weights load."""
    return _scaled("b1", False, kwargs)

@register_model(**_spec("b2", False))
def efficientnet_b2(**kwargs):
    """EfficientNet-B2, 9.2M parameters; keras.applications weights load."""
    return _scaled("b2", False, kwargs)

@register_model(**_spec("b3", False))
def efficientnet_b3(**kwargs):
    """EfficientNet-B3, 12.3M parameters; keras.applications weights load."""
    return _scaled("b3", False, kwargs)

@register_model(**_spec("b4", False))
def efficientnet_b4(**kwargs):
    """EfficientNet-B4, 19.5M parameters; keras.applications weights load."""
    return _scaled("b4", False, kwargs)

@register_model(**_spec("b5", False))
def efficientnet_b5(**kwargs):
    """EfficientNet-B5, 30.6M parameters; keras.applications weights load."""
    return _scaled("b5", False, kwargs)

@register_model(**_spec("b6", False))
def efficientnet_b6(**kwargs):
    """EfficientNet-B6, 43.3M parameters; keras.applications weights load."""
    return _scaled("b6", False, kwargs)

@register_model(**_spec("b7", False))
def efficientnet_b7(**kwargs):
    """EfficientNet-B7, 66.7M parameters; keras.applications weights load."""
    return _scaled("b7", False, kwargs)

@register_model(**_spec("lite0", True))
def efficientnet_lite0(**kwargs):
    """EfficientNet-Lite0, 4.7M parameters: no squeeze-excite, ReLU6 (int8- and delegate-friendly)."""
    return _scaled("lite0", True, kwargs)

@register_model(**_spec("lite1", True))
def efficientnet_lite1(**kwargs):
    """EfficientNet-Lite1, 5.4M parameters: no squeeze-excite, ReLU6 (int8- and delegate-friendly)."""
    return _scaled("lite1", True, kwargs)

@register_model(**_spec("lite2", True))
def efficientnet_lite2(**kwargs):
    """EfficientNet-Lite2, 6.1M parameters: no squeeze-excite, ReLU6 (int8- and delegate-friendly)."""
    return _scaled("lite2", True, kwargs)

@register_model(**_spec("lite3", True))
def efficientnet_lite3(**kwargs):
    """EfficientNet-Lite3, 8.2M parameters: no squeeze-excite, ReLU6 (int8- and delegate-friendly)."""
    return _scaled("lite3", True, kwargs)

@register_model(**_spec("lite4", True))
def efficientnet_lite4(**kwargs):
    """EfficientNet-Lite4, 13.0M parameters: no squeeze-excite, ReLU6 (int8- and delegate-friendly)."""
    return _scaled("lite4", True, kwargs)


@register_model(family="efficientnet", task="image_classification", input_shape=(32, 32, 3), reference=_REF,
                tiny=True)
def efficientnet_tiny(**kwargs):
    """EfficientNet-B0 blocks (squeeze-excite, swish, stochastic depth) at width 0.25, one block per stage,
    on 32x32 inputs: for tests."""
    kwargs.setdefault("input_shape", (32, 32, 3))
    kwargs.setdefault("classes", 10)
    kwargs.setdefault("name", "efficientnet_tiny")
    blocks = tuple((k, 1, c_in, c_out, t, s) for k, _, c_in, c_out, t, s in B0_BLOCKS)
    return EfficientNet(width_coefficient=0.25, blocks=blocks, default_size=32, **kwargs)


@register_model(family="efficientnet", task="image_classification", input_shape=(32, 32, 3), reference=_LITE_REF,
                tiny=True)
def efficientnet_lite_tiny(**kwargs):
    """EfficientNet-Lite blocks (ReLU6, no squeeze-excite) at width 0.25, one block per stage: for tests."""
    kwargs.setdefault("input_shape", (32, 32, 3))
    kwargs.setdefault("classes", 10)
    kwargs.setdefault("name", "efficientnet_lite_tiny")
    blocks = tuple((k, 1, c_in, c_out, t, s) for k, _, c_in, c_out, t, s in B0_BLOCKS)
    return EfficientNet(width_coefficient=0.25, blocks=blocks, default_size=32, lite=True, **kwargs)
