"""Vision Transformer (ViT): an image as a sequence of patches through the zoo's Transformer encoder blocks.

References: Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale", ICLR 2021 (https://arxiv.org/abs/2010.11929); the Tiny and Small widths are DeiT's (Touvron et al.,
"Training data-efficient image transformers & distillation through attention", ICML 2021,
https://arxiv.org/abs/2012.12877). Patches are embedded by one strided convolution, a learned class token
is prepended and learned position embeddings added; the encoder is `zoo.transformer.TransformerEncoderBlock`
(pre-LN, GELU, LayerNorm epsilon 1e-6) and the classifier reads the class token after a final LayerNorm.
Parameter counts equal the reference implementations' (ViT-B/16 86,567,656 with 1,000 classes).

Example:

```python
from zoo import vit_base, vit_cifar
model = vit_base(weights=None)         # ViT-B/16 at 224x224: 86,567,656 parameters
cifar = vit_cifar(classes=10)          # ViT-Ti widths, 4x4 patches of 32x32 images: 64 tokens
```
"""

import keras
from keras import layers, ops

from zoo import _common
from zoo.registry import register_model
from zoo.transformer import TransformerEncoderBlock
from zoo.weights import load_weights

LAYER_NORM_EPSILON = 1e-6


# --------------------------------------------------------------------------
# Layers


@keras.saving.register_keras_serializable(package="zoo")
class ClassTokenAndPosition(layers.Layer):
    """Prepends a learned class token to a sequence of patch embeddings and adds learned position
    embeddings (both initialized from a truncated normal of std 0.02, as ViT's reference code).

    Args:
        num_patches: the sequence length before the class token.

    Example:

    ```python
    import numpy as np
    ClassTokenAndPosition(4)(np.zeros((2, 4, 8), "float32")).shape  # (2, 5, 8)
    ```
    """

    def __init__(self, num_patches, **kwargs):
        super().__init__(**kwargs)
        _common.check_positive_int("num_patches", num_patches)
        self.num_patches = num_patches

    def build(self, input_shape):
        dim = input_shape[-1]
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.class_token = self.add_weight(shape=(1, 1, dim), initializer=init, name="class_token")
        self.position = self.add_weight(shape=(1, self.num_patches + 1, dim), initializer=init, name="position")

    def call(self, x):  # (batch, patches, dim) -> (batch, 1 + patches, dim)
        token = ops.broadcast_to(ops.cast(self.class_token, x.dtype), (ops.shape(x)[0], 1, x.shape[-1]))
        return ops.concatenate([token, x], axis=1) + ops.cast(self.position, x.dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_patches + 1, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"num_patches": self.num_patches})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class ClassTokenPooling(layers.Layer):
    """The class token's features: `(batch, tokens, dim) -> (batch, dim)` (the first token)."""

    def call(self, x):
        return ops.take(x, 0, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


# --------------------------------------------------------------------------
# Model builder


def ViT(
    patch_size=16,
    embed_dim=768,
    depth=12,
    num_heads=12,
    mlp_dim=3072,
    dropout=0.0,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vit",
):
    """Vision Transformer.

    Args:
        patch_size: side of the square patches; the input's height and width must divide by it.
        embed_dim, depth, num_heads, mlp_dim: the encoder's width, blocks, attention heads and feed-forward size.
        dropout: after the embeddings, on attention weights and residual branches.
        pooling: without the top, `None` (the token sequence, `(batch, 1 + patches, dim)`), `"token"` (the
            class token), `"avg"` or `"max"` over the tokens.
        Other args as in the zoo's other image models.
    """
    for arg, value in (("patch_size", patch_size), ("embed_dim", embed_dim), ("depth", depth),
                       ("num_heads", num_heads), ("mlp_dim", mlp_dim)):
        _common.check_positive_int(arg, value)
    if embed_dim % num_heads:
        raise ValueError(f"`embed_dim` must be divisible by `num_heads`. Received: embed_dim={embed_dim}, "
                         f"num_heads={num_heads}")
    _common.check_rate("dropout", dropout)
    _common.check_choice("pooling", pooling, (None, "token", "avg", "max"))
    _common.check_image_args(include_top=include_top, weights=weights, pooling=None, classes=classes,
                             pretrained=(), pretrained_classes=1000)
    input_shape = _common.image_input_shape(input_shape, default_size=224, min_size=patch_size,
                                            include_top=True, weights=weights)  # the position table needs a size
    if input_shape[0] % patch_size or input_shape[1] % patch_size:
        raise ValueError(f"The input's height and width must be multiples of `patch_size` ({patch_size}). "
                         f"Received: input_shape={input_shape}")
    num_patches = (input_shape[0] // patch_size) * (input_shape[1] // patch_size)
    inputs = _common.image_inputs(input_shape, input_tensor)

    x = layers.Conv2D(embed_dim, patch_size, strides=patch_size, name="patch_embed")(inputs)  # (b, h/p, w/p, d)
    x = layers.Reshape((num_patches, embed_dim), name="patch_sequence")(x)  # (b, n, d)
    x = ClassTokenAndPosition(num_patches, name="class_token_position")(x)  # (b, 1 + n, d)
    if dropout:
        x = layers.Dropout(dropout, name="embed_dropout")(x)
    for i in range(depth):
        x = TransformerEncoderBlock(num_heads, mlp_dim, dropout=dropout, activation="gelu", norm_first=True,
                                    layer_norm_epsilon=LAYER_NORM_EPSILON, name=f"block_{i}")(x)
    x = layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="final_norm")(x)
    if include_top or pooling == "token":
        x = ClassTokenPooling(name="class_token")(x)  # (b, d)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling1D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling1D(name="max_pool")(x)
    if include_top:
        x = layers.Dense(classes, activation=classifier_activation, dtype=_common.head_dtype(),
                         name="predictions")(x)
    model = _common.task_model(_common.model_inputs(input_tensor, inputs), x, name=name,
                               task="image_classification", include_top=include_top)
    return load_weights(model, weights)


# --------------------------------------------------------------------------
# Sizes and registered builders

# name: (embed_dim, depth, heads, mlp_dim): ViT's Table 1 (Base) and DeiT's Tiny and Small.
SIZES = {"tiny": (192, 12, 3, 768), "small": (384, 12, 6, 1536), "base": (768, 12, 12, 3072)}

_REF = ("Dosovitskiy et al. 2021, An Image is Worth 16x16 Words, arXiv:2010.11929; Tiny/Small widths: "
        "Touvron et al. 2021 (DeiT), arXiv:2012.12877")
_IMAGENET = dict(family="vit", task="image_classification", input_shape=(224, 224, 3), reference=_REF)
_CIFAR = dict(family="vit", task="image_classification", input_shape=(32, 32, 3), reference=_REF)


def _sized(size, kwargs, **defaults):
    embed_dim, depth, heads, mlp_dim = SIZES[size]
    for key, value in defaults.items():
        kwargs.setdefault(key, value)
    return ViT(embed_dim=embed_dim, depth=depth, num_heads=heads, mlp_dim=mlp_dim, **kwargs)


@register_model(**_IMAGENET)
def vit_tiny(**kwargs):
    """ViT-Ti/16 (DeiT-Ti widths), 5.7M parameters."""
    return _sized("tiny", kwargs, name="vit_tiny")


@register_model(**_IMAGENET)
def vit_small(**kwargs):
    """ViT-S/16 (DeiT-S widths), 22.1M parameters."""
    return _sized("small", kwargs, name="vit_small")


@register_model(**_IMAGENET)
def vit_base(**kwargs):
    """ViT-B/16, 86.6M parameters."""
    return _sized("base", kwargs, name="vit_base")


@register_model(**_CIFAR)
def vit_cifar(**kwargs):
    """ViT-Ti widths on 32x32 images in 4x4 patches (64 tokens and the class token)."""
    return _sized("tiny", kwargs, name="vit_cifar", patch_size=4, input_shape=(32, 32, 3), classes=10)


@register_model(**_CIFAR, tiny=True)
def vit_nano(**kwargs):
    """Two blocks of width 32 (2 heads) on 8x8 patches of 32x32 images: for tests."""
    kwargs.setdefault("input_shape", (32, 32, 3))
    kwargs.setdefault("classes", 10)
    kwargs.setdefault("name", "vit_nano")
    return ViT(patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_dim=64, **kwargs)
