"""NASNet-A: Mobile (4 @ 1056), Large (6 @ 4032), CIFAR (6 @ 768) and a tiny test variant.

Zoph, Vasudevan, Shlens & Le 2018, "Learning Transferable Architectures for
Scalable Image Recognition", CVPR 2018 (arXiv:1707.07012). The network
stacks the searched *normal* cell (keeps the size) and *reduction* cell
(halves it); `N @ P` names N normal cells per stage and P filters in the
penultimate layer (24 x the first stage's cell width, for the 6 branches of
a cell and two doublings).

The ImageNet models name every weighted layer as keras.applications does,
so `weights="imagenet"` loads its files (and `zoo.weights.transfer_weights`
copies a live `keras.applications.NASNetMobile`), with its exact parameter
counts. The CIFAR model uses the paper's CIFAR stem (one 3x3 convolution, no
reduction stems). Training regularization is the paper's ScheduledDropPath
(`DropPath` + the `ScheduledDropPath` callback); it is off at inference.

Example:

```python
from zoo import nasnet_mobile, nasnet_cifar
model = nasnet_mobile(weights=None)          # 5,326,716 parameters, 224x224
cifar = nasnet_cifar(classes=10)             # NASNet-A 6 @ 768, 32x32
```
"""

import keras
from keras import layers

from zoo import _common
from zoo.layers import DropPath  # the shared layer (zoo.nasnet.DropPath before it moved)
from zoo.registry import register_model
from zoo.weights import load_weights

BN_MOMENTUM, BN_EPSILON = 0.9997, 1e-3  # keras.applications' NASNet values (its weights assume them)

_KAPP_URL = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
_KAPP_FILES = {  # weights name -> ((file, md5) with top, (file, md5) without top), from keras.applications.nasnet
    "nasnet_mobile": (("NASNet-mobile.h5", "020fb642bf7360b370c678b08e0adf61"),
                      ("NASNet-mobile-no-top.h5", "1ed92395b5b598bdda52abe5c0dbfd63")),
    "nasnet_large": (("NASNet-large.h5", "11577c9a518f0070763c2b964a382f17"),
                     ("NASNet-large-no-top.h5", "d81d89dc07e6e56530c4e77faddd61b5")),
}


def _pretrained_files(weights_name, include_top):
    if weights_name not in _KAPP_FILES:
        return {}
    file_name, file_hash = _KAPP_FILES[weights_name][0 if include_top else 1]
    return {"imagenet": (file_name, _KAPP_URL + file_name, file_hash)}


# --------------------------------------------------------------------------
# Parts


def _bn(name):
    return _common.batch_norm(name, epsilon=BN_EPSILON, momentum=BN_MOMENTUM)


class ScheduledDropPath(keras.callbacks.Callback):
    """Advances every `DropPath`'s progress from 0 to 1 over `total_steps` training steps.

    Example:

    ```python
    model.fit(ds, epochs=10, callbacks=[ScheduledDropPath(total_steps=10 * len(ds))])
    ```
    """

    def __init__(self, total_steps):
        super().__init__()
        _common.check_positive_int("total_steps", total_steps)
        self.total_steps, self.step = total_steps, 0

    def on_train_batch_begin(self, batch, logs=None):
        progress = min(self.step / self.total_steps, 1.0)
        for layer in self.model._flatten_layers():
            if isinstance(layer, DropPath) and layer.scheduled:
                layer.progress.assign(progress)
        self.step += 1


class _Cell:
    """What every op of one cell shares: its name, width and drop path."""

    def __init__(self, block_id, filters, drop_path_rate, depth):
        self.block_id, self.filters = block_id, filters
        self.drop_path_rate, self.depth = drop_path_rate, depth
        self.paths = 0

    def path(self, x):
        """A path into a sum: dropped as a whole in training (ScheduledDropPath)."""
        if not self.drop_path_rate:
            return x
        self.paths += 1
        return DropPath(self.drop_path_rate, self.depth, name=f"drop_path_{self.paths}_{self.block_id}")(x)

    def separable(self, x, kernel_size, block, strides=1):
        """[ReLU, separable conv, BN] x 2; the first one strided for reductions."""
        name = f"{block}_{self.block_id}"
        x = layers.Activation("relu", name=f"separable_relu_1_{name}")(x)
        padding = "same"
        if strides == 2:
            x = layers.ZeroPadding2D(_common.correct_pad(x, kernel_size), name=f"separable_conv_1_pad_{name}")(x)
            padding = "valid"
        x = layers.SeparableConv2D(self.filters, kernel_size, strides=strides, padding=padding, use_bias=False,
                                   name=f"separable_conv_1_{name}")(x)
        x = _bn(f"separable_conv_1_bn_{name}")(x)
        x = layers.Activation("relu", name=f"separable_relu_2_{name}")(x)
        x = layers.SeparableConv2D(self.filters, kernel_size, padding="same", use_bias=False,
                                   name=f"separable_conv_2_{name}")(x)
        return self.path(_bn(f"separable_conv_2_bn_{name}")(x))

    def pool(self, x, kind, strides, name):
        pool = layers.AveragePooling2D if kind == "avg" else layers.MaxPooling2D
        padding = "same" if strides == 1 else "valid"
        return self.path(pool(3, strides=strides, padding=padding, name=f"{name}_{self.block_id}")(x))

    def add(self, a, b, name):
        return layers.Add(name=f"{name}_{self.block_id}")([a, b])


def _adjust_block(p, ip, filters, block_id):
    """Bring the previous cell's output `p` to `ip`'s size and `filters` channels."""
    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:  # p is twice as large: two offset stride-2 halves
        p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = layers.AveragePooling2D(1, strides=2, padding="valid", name=f"adjust_avg_pool_1_{block_id}")(p)
        p1 = layers.Conv2D(filters // 2, 1, padding="same", use_bias=False, kernel_initializer="he_normal",
                           name=f"adjust_conv_1_{block_id}")(p1)
        p2 = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"adjust_pad_{block_id}")(p)
        p2 = layers.Cropping2D(((1, 0), (1, 0)), name=f"adjust_crop_{block_id}")(p2)
        p2 = layers.AveragePooling2D(1, strides=2, padding="valid", name=f"adjust_avg_pool_2_{block_id}")(p2)
        p2 = layers.Conv2D(filters // 2, 1, padding="same", use_bias=False, kernel_initializer="he_normal",
                           name=f"adjust_conv_2_{block_id}")(p2)
        p = layers.Concatenate(axis=-1, name=f"adjust_concat_{block_id}")([p1, p2])
        return _bn(f"adjust_bn_{block_id}")(p)
    if p.shape[-1] != filters:
        p = layers.Activation("relu", name=f"adjust_relu_projection_{block_id}")(p)
        p = layers.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer="he_normal",
                          name=f"adjust_conv_projection_{block_id}")(p)
        return _bn(f"adjust_bn_{block_id}")(p)
    return p


def _squeeze(ip, filters, kind, block_id):
    """ReLU, 1x1 conv, BN: the cell's own input at `filters` channels."""
    h = layers.Activation("relu", name=f"{kind}_relu_1_{block_id}")(ip)
    h = layers.Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer="he_normal",
                      name=f"{kind}_conv_1_{block_id}")(h)
    return _bn(f"{kind}_bn_1_{block_id}")(h)


def normal_cell(ip, p, cell):
    """NASNet-A normal cell (Fig. 4 left): 5 blocks, output (b, h, w, 6 x filters)."""
    block_id, filters = cell.block_id, cell.filters
    # The first cell after the CIFAR stem has no previous cell: its own input, projected, stands in.
    p = _adjust_block(ip if p is None else p, ip, filters, block_id)
    h = _squeeze(ip, filters, "normal", block_id)  # (b, h, w, filters)
    x1 = cell.add(cell.separable(h, 5, "normal_left1"), cell.separable(p, 3, "normal_right1"), "normal_add_1")
    x2 = cell.add(cell.separable(p, 5, "normal_left2"), cell.separable(p, 3, "normal_right2"), "normal_add_2")
    x3 = cell.add(cell.pool(h, "avg", 1, "normal_left3"), p, "normal_add_3")
    x4 = cell.add(cell.pool(p, "avg", 1, "normal_left4"), cell.pool(p, "avg", 1, "normal_right4"), "normal_add_4")
    x5 = cell.add(cell.separable(h, 3, "normal_left5"), h, "normal_add_5")
    x = layers.Concatenate(axis=-1, name=f"normal_concat_{block_id}")([p, x1, x2, x3, x4, x5])
    return x, ip


def reduction_cell(ip, p, cell):
    """NASNet-A reduction cell (Fig. 4 right): halves the size, output (b, h/2, w/2, 4 x filters)."""
    block_id, filters = cell.block_id, cell.filters
    p = _adjust_block(p, ip, filters, block_id)
    h = _squeeze(ip, filters, "reduction", block_id)
    h3 = layers.ZeroPadding2D(_common.correct_pad(h, 3), name=f"reduction_pad_1_{block_id}")(h)
    x1 = cell.add(cell.separable(h, 5, "reduction_left1", strides=2),
                  cell.separable(p, 7, "reduction_right1", strides=2), "reduction_add_1")
    x2 = cell.add(cell.pool(h3, "max", 2, "reduction_left2"),
                  cell.separable(p, 7, "reduction_right2", strides=2), "reduction_add_2")
    x3 = cell.add(cell.pool(h3, "avg", 2, "reduction_left3"),
                  cell.separable(p, 5, "reduction_right3", strides=2), "reduction_add3")
    x4 = cell.add(x2, cell.pool(x1, "avg", 1, "reduction_left4"), "reduction_add_x4")
    x5 = cell.add(cell.separable(x1, 3, "reduction_left4"), cell.pool(h3, "max", 2, "reduction_right5"),
                  "reduction_add4")
    x = layers.Concatenate(axis=-1, name=f"reduction_concat_{block_id}")([x2, x3, x4, x5])
    return x, ip


# --------------------------------------------------------------------------
# The model


def _stages(x, p, filters, num_blocks, filter_multiplier, skip_reduction, drop_path_rate):
    """Three stages of `num_blocks` normal cells, a reduction cell between stages."""
    total = 3 * num_blocks + 2
    position = [0]

    def cell(block_id, width):
        position[0] += 1
        return _Cell(block_id, width, drop_path_rate, position[0] / total)

    for stage in range(3):
        width = filters * filter_multiplier ** stage
        if stage:
            block_id = f"reduce_{stage * num_blocks}"
            x, p0 = reduction_cell(x, p, cell(block_id, width))
            p = p if skip_reduction else p0
        for i in range(num_blocks):
            block_id = f"{stage * num_blocks + i + (1 if stage else 0)}"
            x, p = normal_cell(x, p, cell(block_id, width))
    return x


def _check_nasnet_args(penultimate_filters, num_blocks, stem_block_filters, filter_multiplier, stem,
                       drop_path_rate):
    _common.check_positive_int("num_blocks", num_blocks)
    _common.check_positive_int("stem_block_filters", stem_block_filters)
    _common.check_positive_int("filter_multiplier", filter_multiplier)
    _common.check_positive_int("penultimate_filters", penultimate_filters)
    _common.check_choice("stem", stem, ("imagenet", "cifar"))
    _common.check_rate("drop_path_rate", drop_path_rate)
    if penultimate_filters % (24 * filter_multiplier ** 2):
        raise ValueError(
            "`penultimate_filters` must be a multiple of 24 * filter_multiplier**2 (6 branches per cell, "
            f"two doublings). Received: penultimate_filters={penultimate_filters}")


def NASNet(
    penultimate_filters=4032,
    num_blocks=6,
    stem_block_filters=96,
    skip_reduction=True,
    filter_multiplier=2,
    stem="imagenet",
    drop_path_rate=0.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    default_size=331,
    name="nasnet",
    weights_name=None,
):
    """NASNet-A `num_blocks @ penultimate_filters` (Zoph et al. 2018).

    Args:
        penultimate_filters: filters of the last cells' output (P in `N @ P`).
        num_blocks: normal cells per stage (N in `N @ P`).
        stem_block_filters: filters of the first convolution.
        skip_reduction: the cell after a reduction reads the reduction cell's
            own input as its previous path (keras.applications' Large) or
            not (Mobile).
        filter_multiplier: width factor from one stage to the next.
        stem: `"imagenet"` (3x3/2 conv + two reduction cells) or `"cifar"`
            (one 3x3 conv, as the paper's CIFAR-10 models).
        drop_path_rate: ScheduledDropPath's final drop probability (0: off).
        Other args as in `zoo.resnet.ResNet` (keras.applications' names).
    """
    _check_nasnet_args(penultimate_filters, num_blocks, stem_block_filters, filter_multiplier, stem, drop_path_rate)
    pretrained = _pretrained_files(weights_name, include_top)
    _common.check_image_args(include_top=include_top, weights=weights, pooling=pooling, classes=classes,
                             pretrained=tuple(pretrained), pretrained_classes=1000)
    input_shape = _common.image_input_shape(input_shape, default_size=default_size, min_size=32,
                                            include_top=include_top, weights=weights)
    inputs = _common.image_inputs(input_shape, input_tensor)
    filters = penultimate_filters // 24
    if stem == "imagenet":
        x = layers.Conv2D(stem_block_filters, 3, strides=2, padding="valid", use_bias=False,
                          kernel_initializer="he_normal", name="stem_conv1")(inputs)
        x = _bn("stem_bn1")(x)  # (b, h/2, w/2, stem filters)
        x, p = reduction_cell(x, None, _Cell("stem_1", filters // filter_multiplier ** 2, 0.0, 0.0))
        x, p = reduction_cell(x, p, _Cell("stem_2", filters // filter_multiplier, 0.0, 0.0))  # (b, h/8, w/8, .)
    else:
        x = layers.Conv2D(stem_block_filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                          name="stem_conv1")(inputs)
        x, p = _bn("stem_bn1")(x), None
    x = _stages(x, p, filters, num_blocks, filter_multiplier, skip_reduction, drop_path_rate)
    x = layers.Activation("relu", name="final_relu")(x)
    x = _common.image_head(x, include_top=include_top, pooling=pooling, classes=classes,
                           classifier_activation=classifier_activation)
    model = _common.task_model(_common.model_inputs(input_tensor, inputs), x, name=name,
                               task="image_classification", include_top=include_top)
    return load_weights(model, weights, pretrained=pretrained)


# --------------------------------------------------------------------------
# Registered variants

_REF = "Zoph et al. 2018, Learning Transferable Architectures for Scalable Image Recognition, arXiv:1707.07012"
_IMAGE = dict(family="nasnet", task="image_classification", reference=_REF)


@register_model(**_IMAGE, input_shape=(224, 224, 3), pretrained=("imagenet",))
def nasnet_mobile(**kwargs):
    """NASNet-A Mobile (4 @ 1056), 224x224, 5.3M parameters; keras.applications weights load."""
    defaults = dict(penultimate_filters=1056, num_blocks=4, stem_block_filters=32, skip_reduction=False,
                    default_size=224, name="nasnet_mobile", weights_name="nasnet_mobile")
    return NASNet(**{**defaults, **kwargs})


@register_model(**_IMAGE, input_shape=(331, 331, 3), pretrained=("imagenet",))
def nasnet_large(**kwargs):
    """NASNet-A Large (6 @ 4032), 331x331, 88.9M parameters; keras.applications weights load."""
    defaults = dict(penultimate_filters=4032, num_blocks=6, stem_block_filters=96, skip_reduction=True,
                    default_size=331, name="nasnet_large", weights_name="nasnet_large")
    return NASNet(**{**defaults, **kwargs})


@register_model(**_IMAGE, input_shape=(32, 32, 3))
def nasnet_cifar(**kwargs):
    """NASNet-A (6 @ 768) for CIFAR-10 (the paper's Table 1 model, without its auxiliary head):
    CIFAR stem of 96 filters, ScheduledDropPath 0.4 (keep probability 0.6, as the paper trains it)."""
    defaults = dict(penultimate_filters=768, num_blocks=6, stem_block_filters=96, skip_reduction=False,
                    stem="cifar", drop_path_rate=0.4, default_size=32, classes=10, name="nasnet_cifar")
    return NASNet(**{**defaults, **kwargs})


@register_model(**_IMAGE, input_shape=(32, 32, 3), tiny=True)
def nasnet_tiny(**kwargs):
    """NASNet-A (1 @ 96) with the CIFAR stem and drop path: for tests."""
    defaults = dict(penultimate_filters=96, num_blocks=1, stem_block_filters=8, skip_reduction=False,
                    stem="cifar", drop_path_rate=0.2, default_size=32, classes=10, name="nasnet_tiny")
    return NASNet(**{**defaults, **kwargs})
