"""Argument checks and heads shared by the model families.

Every builder validates its arguments before creating a layer, and every
error names what was received and what is allowed (keras.applications style).
"""

import os

import keras
from keras import layers

POOLING_MODES = (None, "avg", "max")


def check_classes(classes, include_top=True):
    if not include_top:
        return
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(
            "`classes` must be a positive integer (the number of output "
            f"classes). Received: classes={classes!r}"
        )


def check_choice(arg_name, value, allowed):
    if value not in allowed:
        raise ValueError(
            f"`{arg_name}` must be one of {list(allowed)}. "
            f"Received: {arg_name}={value!r}"
        )


def check_positive_int(arg_name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"`{arg_name}` must be an integer >= {minimum}. "
            f"Received: {arg_name}={value!r}"
        )


def check_rate(arg_name, value):
    if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"`{arg_name}` must be a float in [0, 1). "
            f"Received: {arg_name}={value!r}"
        )


def check_weights_arg(weights, pretrained=()):
    """`weights` is None, a name in `pretrained`, or an existing file."""
    if weights is None or weights in pretrained:
        return
    allowed = ["None", *[repr(p) for p in pretrained], "a path to a weights file"]
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"`weights` must be one of {', '.join(allowed)}. "
            f"Received: weights={weights!r}"
        )
    if not os.path.exists(weights):
        raise ValueError(
            "`weights` is neither a known pretrained name nor an existing "
            f"file. Allowed: {', '.join(allowed)}. Received: weights={weights!r}"
        )


def check_channels_last():
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "zoo image models are built channels_last (NHWC), the layout "
            "TFLite, ONNX exports and XLA on GPU prefer. Call "
            "`keras.config.set_image_data_format('channels_last')`. Received: "
            f"image_data_format={keras.config.image_data_format()!r}"
        )


def image_input_shape(
    input_shape, *, default_size, min_size, include_top, weights, channels=3
):
    """Resolve and validate the `input_shape` of an image model (NHWC).

    Without `input_shape`, a classifier gets `(default_size, default_size,
    channels)`; a feature extractor (`include_top=False`) takes any size.
    Spatial sizes below `min_size` cannot survive the model's strides.
    """
    check_channels_last()
    if input_shape is None:
        if include_top:
            return (default_size, default_size, channels)
        return (None, None, channels)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be (height, width, channels). "
            f"Received: input_shape={input_shape}"
        )
    height, width, ch = input_shape
    for size in (height, width):
        if size is not None and (not isinstance(size, int) or size < min_size):
            raise ValueError(
                f"Input size must be at least {min_size}x{min_size} for this "
                f"model (its strides reduce anything smaller to nothing). "
                f"Received: input_shape={input_shape}"
            )
    if not isinstance(ch, int) or ch < 1:
        raise ValueError(
            "The channel axis of `input_shape` must be a positive integer. "
            f"Received: input_shape={input_shape}"
        )
    if weights == "imagenet" and ch != 3:
        raise ValueError(
            "ImageNet weights need 3 input channels. "
            f"Received: input_shape={input_shape}"
        )
    return input_shape


def head_dtype():
    """float32 for the classifier under mixed precision: a softmax in bf16
    loses the small probabilities that the loss needs."""
    if keras.config.dtype_policy().name.startswith("mixed"):
        return "float32"
    return None


def image_head(x, *, include_top, pooling, classes, classifier_activation):
    """keras.applications' head: GAP + Dense, or optional pooling only."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        return layers.Dense(
            classes,
            activation=classifier_activation,
            dtype=head_dtype(),
            name="predictions",
        )(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def check_image_args(
    *, include_top, weights, pooling, classes, pretrained, pretrained_classes
):
    check_weights_arg(weights, pretrained)
    check_choice("pooling", pooling, POOLING_MODES)
    check_classes(classes, include_top)
    if weights in pretrained and include_top and classes != pretrained_classes:
        raise ValueError(
            f"With `weights={weights!r}` and `include_top=True`, `classes` "
            f"must be {pretrained_classes}; use `include_top=False` (and a new "
            f"head) for another number of classes. Received: classes={classes}"
        )
