"""Argument checks and heads shared by the model families.

Every builder validates its arguments before creating a layer, and every
error names what was received and what is allowed (keras.applications style).
"""

import os

import keras
from keras import layers

POOLING_MODES = (None, "avg", "max")


MAX_CLASSES = 1_000_000


def check_classes(classes, include_top=True):
    if not include_top:
        return
    if isinstance(classes, bool) or not isinstance(classes, int) or not 1 <= classes <= MAX_CLASSES:
        raise ValueError(
            f"`classes` must be a positive integer up to {MAX_CLASSES:,} (the number of output "
            f"classes; a head with more does not fit in memory). Received: classes={classes!r}"
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


def check_positive_ints(arg_name, values, *, allow_empty=False):
    """A sequence of integers >= 1 (non-empty unless `allow_empty`)."""
    ok = isinstance(values, (list, tuple)) and (allow_empty or len(values) > 0) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)
    if not ok:
        raise ValueError(
            f"`{arg_name}` must be a {'' if allow_empty else 'non-empty '}sequence of positive integers. "
            f"Received: {arg_name}={values!r}"
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


def image_head(x, *, include_top, pooling, classes, classifier_activation, dropout=0.0):
    """keras.applications' head: GAP (+ dropout, EfficientNet's `top_dropout`) + Dense, or optional pooling only."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout > 0:
            x = layers.Dropout(dropout, name="top_dropout")(x)
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


def task_model(inputs, outputs, *, name, task, include_top=True):
    """The functional model every builder returns: a `zoo.tasks.TaskModel`
    recording `task` (or `"features"` for a backbone without its head)."""
    from zoo.tasks import FEATURES, TaskModel

    return TaskModel(inputs, outputs, name=name, task=task if include_top else FEATURES)


# --------------------------------------------------------------------------
# Pieces the image families share (keras.applications conventions)

BN_EPSILON = 1.001e-5  # keras.applications' value: its weights assume it.
BN_MOMENTUM = 0.99


def batch_norm(name, *, epsilon=BN_EPSILON, momentum=BN_MOMENTUM):
    """Batch norm as keras.applications' image models (with TF's fused training kernel); the
    defaults are its ResNet/DenseNet values."""
    from zoo.layers import BatchNormalization

    return BatchNormalization(axis=-1, epsilon=epsilon, momentum=momentum, name=name)


def kapp_pretrained_files(base_url, hashes, weights_name, include_top):
    """`{"imagenet": (file name, url, md5)}` of a keras.applications weights file, or `{}`.

    `hashes` maps a weights name to its (with top, without top) hashes.
    """
    if weights_name not in hashes:
        return {}
    suffix = "" if include_top else "_notop"
    file_name = f"{weights_name}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    return {"imagenet": (file_name, base_url + file_name, hashes[weights_name][0 if include_top else 1])}


def imagenet_stem(inputs, filters, *, use_bias, pool_name):
    """7x7/2 conv, BN, ReLU, 3x3/2 max-pool: (b, h, w, c) -> (b, h/4, w/4, filters)."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = layers.Conv2D(filters, 7, strides=2, use_bias=use_bias, name="conv1_conv")(x)
    x = batch_norm("conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name=pool_name)(x)


def image_inputs(input_shape, input_tensor):
    """The image input tensor: a new `images` Input, or `input_tensor` (a
    Keras tensor, or a backend tensor wrapped as keras.applications does)."""
    if input_tensor is None:
        return layers.Input(shape=input_shape, name="images")
    if not keras.backend.is_keras_tensor(input_tensor):
        return layers.Input(tensor=input_tensor, shape=input_shape, name="images")
    return input_tensor


def model_inputs(input_tensor, inputs):
    """The model's inputs: the sources of `input_tensor` when one was given
    (it may come out of other layers), else `inputs` (keras.applications)."""
    if input_tensor is not None:
        return keras.utils.get_source_inputs(input_tensor)
    return inputs


def correct_pad(x, kernel_size):
    """Padding for a stride-2 'valid' op that matches TF's 'same' (keras.applications' `correct_pad`): ONNX and
    LiteRT get a plain pad + 'valid' op, and imported weights see the pixels they were trained on."""
    size = x.shape[1:3]
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def pad_for_stride_2(x, kernel_size, name):
    """`x` zero-padded by `correct_pad` (a layer named `name`)."""
    return layers.ZeroPadding2D(correct_pad(x, kernel_size), name=name)(x)
