"""Transformer encoder classifier and encoder-decoder (seq2seq) model.

References:
- Vaswani et al. 2017, "Attention Is All You Need" (https://arxiv.org/abs/1706.03762).
- Pre-LN: Xiong et al. 2020, "On Layer Normalization in the Transformer
  Architecture" (https://arxiv.org/abs/2002.04745).
- GLU feed-forward variants: Shazeer 2020, "GLU Variants Improve Transformer"
  (https://arxiv.org/abs/2002.05202).

Token id 0 is padding. Padding and causal masks are built with `keras.ops`
(no `use_causal_mask`), so the graph lowers to builtin TFLite ops and to ONNX.

Example:

```python
import numpy as np
from zoo import transformer_classifier, transformer_seq2seq
from zoo.transformer import greedy_decode
clf = transformer_classifier(vocab_size=20000, sequence_length=256, classes=2)
s2s = transformer_seq2seq(source_vocab_size=100, target_vocab_size=100, sequence_length=16)
tokens = greedy_decode(s2s, np.ones((2, 16), "int32"), start_id=1, end_id=2)
```
"""

import keras
import numpy as np
from keras import layers, ops

from zoo import _common
from zoo.layers import map_out_of_vocabulary
from zoo.registry import register_model
from zoo.weights import load_weights

FFN_ACTIVATIONS = ("relu", "gelu", "glu", "geglu", "swiglu")
_GLU_GATES = {"glu": "sigmoid", "geglu": "gelu", "swiglu": "silu"}


def _activation(name):
    if name == "gelu":
        # Exact GELU written with erf: TF lowers keras' gelu to Erfc, which has
        # no ONNX op; erf maps to ONNX `Erf` and TFLite `GELU`-free builtins.
        return lambda x: 0.5 * x * (1.0 + ops.erf(x * 0.7071067811865476))
    return keras.activations.get(name)


# --------------------------------------------------------------------------
# Layers


@keras.saving.register_keras_serializable(package="zoo")
class PaddingMask(layers.Layer):
    """`True` where a token is not padding: `tokens != pad_id`.

    Example:

    ```python
    import numpy as np
    PaddingMask()(np.array([[5, 3, 0]]))  # [[True, True, False]]
    ```
    """

    def __init__(self, pad_id=0, **kwargs):
        super().__init__(**kwargs)
        self.pad_id = pad_id

    def call(self, tokens):
        return ops.not_equal(tokens, self.pad_id)

    def compute_output_spec(self, tokens):
        return keras.KerasTensor(tokens.shape, dtype="bool")

    def get_config(self):
        config = super().get_config()
        config.update({"pad_id": self.pad_id})
        return config


@keras.saving.register_keras_serializable(package="zoo")
class TokenAndPositionEmbedding(layers.Layer):
    """Token embedding plus a learned position embedding (Vaswani et al. 2017).

    Token ids outside `[0, vocab_size)` read as the out-of-vocabulary id 1
    (`zoo.layers.map_out_of_vocabulary`), on every backend and in every
    exported file. A sequence longer than `sequence_length` (the model's
    max_length) raises `ValueError` when its length is known at call or trace
    time (always under JAX), else fails the same way from a TF assertion.

    Args:
        vocab_size: number of token ids.
        sequence_length: longest sequence the position table covers.
        embed_dim: output size.

    Example:

    ```python
    import numpy as np
    emb = TokenAndPositionEmbedding(vocab_size=10, sequence_length=8, embed_dim=4)
    emb(np.array([[1, 2, 3]])).shape  # (1, 3, 4)
    ```
    """

    def __init__(self, vocab_size, sequence_length, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.sequence_length = sequence_length
        self.embed_dim = embed_dim
        self.token_embedding = layers.Embedding(
            vocab_size, embed_dim, dtype=self.dtype_policy, name="token_embedding"
        )
        self.position_embedding = layers.Embedding(
            sequence_length, embed_dim, dtype=self.dtype_policy, name="position_embedding"
        )

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build((None,))

    def _too_long(self, length=None):
        count = f"{length} tokens" if length is not None else "more tokens"
        return (f"{self.name}: the input has {count}; this model takes at most max_length={self.sequence_length} "
                f"(its sequence_length=, the size of its position table). Build the model "
                f"with a larger sequence_length=, or truncate the inputs as the vectorizer does "
                f"(pipelines.text.vectorize keeps {self.sequence_length} tokens).")

    def _check_length(self, tokens):
        length = tokens.shape[-1]
        if length is not None:
            if length > self.sequence_length:
                raise ValueError(self._too_long(length))
            return tokens
        if keras.backend.backend() != "tensorflow":
            return tokens
        import tensorflow as tf  # a free length in a TF graph: checked when it runs

        check = tf.debugging.assert_less_equal(
            tf.shape(tokens)[-1], self.sequence_length,
            message=self._too_long())
        with tf.control_dependencies([check]):
            return tf.identity(tokens)

    def call(self, tokens):
        tokens = map_out_of_vocabulary(self._check_length(tokens), self.vocab_size)
        positions = ops.arange(ops.shape(tokens)[-1])  # (seq,)
        return self.token_embedding(tokens) + self.position_embedding(positions)[None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embed_dim,)

    def get_config(self):
        config = super().get_config()
        config.update({
            "vocab_size": self.vocab_size,
            "sequence_length": self.sequence_length,
            "embed_dim": self.embed_dim,
        })
        return config


@keras.saving.register_keras_serializable(package="zoo")
class MaskedMeanPooling(layers.Layer):
    """Mean over the non-padding steps: `sum_t m_t x_t / max(sum_t m_t, 1)`.

    Unlike `GlobalAveragePooling1D(mask=...)`, a sequence that is all padding
    (an empty or all-punctuation text) pools to zeros instead of 0/0 = NaN.

    Example:

    ```python
    import numpy as np
    x = np.ones((1, 3, 2), "float32")
    MaskedMeanPooling()(x, np.array([[True, True, False]]))  # [[1., 1.]]
    ```
    """

    def call(self, x, mask):
        weights = ops.cast(mask, x.dtype)[..., None]  # (batch, seq, 1)
        total = ops.sum(x * weights, axis=1)  # (batch, dim)
        count = ops.maximum(ops.sum(weights, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, x_shape, mask_shape=None):
        return (x_shape[0], x_shape[-1])


@keras.saving.register_keras_serializable(package="zoo")
class MaskedMaxPooling(layers.Layer):
    """Max over the non-padding steps; a sequence that is all padding pools to zeros.

    `GlobalMaxPooling1D` ignores the padding mask, so padded positions
    (whose encodings are not zero) would win the max.

    Example:

    ```python
    import numpy as np
    x = np.array([[[1., 5.], [2., 0.], [9., 9.]]], "float32")
    MaskedMaxPooling()(x, np.array([[True, True, False]]))  # [[2., 5.]]
    ```
    """

    def call(self, x, mask):
        keep = ops.cast(mask, "bool")[..., None]  # (batch, seq, 1)
        lowest = ops.full_like(x, -1e9)  # finite: converts to every runtime and dtype
        pooled = ops.max(ops.where(keep, x, lowest), axis=1)  # (batch, dim)
        return ops.where(ops.any(keep, axis=1), pooled, ops.zeros_like(pooled))

    def compute_output_shape(self, x_shape, mask_shape=None):
        return (x_shape[0], x_shape[-1])


def causal_mask(length):
    """(length, length) bool, `True` where query i may attend key j <= i."""
    rows = ops.arange(length)[:, None]
    cols = ops.arange(length)[None, :]
    return ops.greater_equal(rows, cols)


@keras.saving.register_keras_serializable(package="zoo")
class FeedForward(layers.Layer):
    """Position-wise feed-forward net, plain (ReLU/GELU) or gated (GLU family).

    Gated variants compute `(x W) * gate(x V)` (Shazeer 2020,
    https://arxiv.org/abs/2002.05202).

    Example:

    ```python
    import numpy as np
    FeedForward(16, activation="swiglu")(np.ones((1, 3, 8), "float32")).shape  # (1, 3, 8)
    ```
    """

    def __init__(self, intermediate_dim, activation="gelu", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if activation not in FFN_ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {list(FFN_ACTIVATIONS)}. "
                f"Received: activation={activation!r}"
            )
        self.intermediate_dim = intermediate_dim
        self.activation = activation
        self.dropout = dropout
        gated = activation in _GLU_GATES
        self.inner = layers.Dense(
            intermediate_dim * (2 if gated else 1),
            activation=None,  # applied in call(), see _activation
            dtype=self.dtype_policy, name="inner",
        )
        self.dropout_layer = layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        self.inner.build(input_shape)
        self.outer = layers.Dense(input_shape[-1], dtype=self.dtype_policy, name="outer")
        self.outer.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))

    def call(self, x, training=None):
        h = self.inner(x)  # (batch, seq, ff) or (batch, seq, 2 * ff) gated
        if self.activation in _GLU_GATES:
            value, gate = ops.split(h, 2, axis=-1)
            h = value * _activation(_GLU_GATES[self.activation])(gate)
        else:
            h = _activation(self.activation)(h)
        h = self.dropout_layer(h, training=training)
        return self.outer(h)

    def get_config(self):
        config = super().get_config()
        config.update({
            "intermediate_dim": self.intermediate_dim,
            "activation": self.activation,
            "dropout": self.dropout,
        })
        return config


def _attention_mask(key_mask, causal):
    """(batch, 1 or q, k) bool: which keys each query may attend (padding keys never;
    with `causal`, only keys at or before the query). Padded *queries* need no mask:
    their outputs are ignored by the pooling and the loss."""
    mask = None
    if key_mask is not None:
        mask = ops.expand_dims(key_mask, 1)  # (batch, 1, k)
    if causal is not None:
        mask = causal[None] if mask is None else ops.logical_and(mask, causal[None])
    return mask


@keras.saving.register_keras_serializable(package="zoo")
class TransformerEncoderBlock(layers.Layer):
    """Self-attention + feed-forward, each with residual and LayerNorm.

    Args:
        num_heads: attention heads; the model width must divide by it.
        intermediate_dim: feed-forward hidden size.
        dropout: dropout on attention weights and residual branches.
        activation: feed-forward activation, one of `FFN_ACTIVATIONS`.
        norm_first: pre-LN (Xiong et al. 2020) if `True`, post-LN (Vaswani
            et al. 2017) if `False`.
        layer_norm_epsilon: LayerNorm epsilon.

    Example:

    ```python
    import numpy as np
    block = TransformerEncoderBlock(num_heads=2, intermediate_dim=16)
    block(np.ones((1, 5, 8), "float32")).shape  # (1, 5, 8)
    ```
    """

    def __init__(self, num_heads, intermediate_dim, dropout=0.0, activation="gelu",
                 norm_first=False, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.activation = activation
        self.norm_first = norm_first
        self.layer_norm_epsilon = layer_norm_epsilon
        self.ffn = FeedForward(intermediate_dim, activation, dropout,
                               dtype=self.dtype_policy, name="ffn")
        self.attention_norm = layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="attention_norm")
        self.ffn_norm = layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="ffn_norm")
        self.residual_dropout = layers.Dropout(dropout, dtype=self.dtype_policy)

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(
                f"The model width ({dim}) must be divisible by `num_heads`. "
                f"Received: num_heads={self.num_heads}"
            )
        self.attention = layers.MultiHeadAttention(
            self.num_heads, dim // self.num_heads, dropout=self.dropout,
            dtype=self.dtype_policy, name="attention",
        )
        self.attention.build(input_shape, input_shape)
        self.ffn.build(input_shape)
        self.attention_norm.build(input_shape)
        self.ffn_norm.build(input_shape)

    def _residual(self, x, sublayer, norm, training):
        if self.norm_first:
            return x + self.residual_dropout(sublayer(norm(x)), training=training)
        return norm(x + self.residual_dropout(sublayer(x), training=training))

    def call(self, x, padding_mask=None, training=None):
        mask = _attention_mask(padding_mask, None)
        x = self._residual(
            x, lambda h: self.attention(h, h, attention_mask=mask, training=training),
            self.attention_norm, training)
        return self._residual(
            x, lambda h: self.ffn(h, training=training), self.ffn_norm, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "activation": self.activation,
            "norm_first": self.norm_first,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        })
        return config


@keras.saving.register_keras_serializable(package="zoo")
class TransformerDecoderBlock(TransformerEncoderBlock):
    """Causal self-attention, cross-attention to the encoder, feed-forward.

    Arguments as `TransformerEncoderBlock` (Vaswani et al. 2017, Fig. 1 right).

    Example:

    ```python
    import numpy as np
    block = TransformerDecoderBlock(num_heads=2, intermediate_dim=16)
    y = block(np.ones((1, 4, 8), "float32"), np.ones((1, 6, 8), "float32"))
    y.shape  # (1, 4, 8)
    ```
    """

    def __init__(self, num_heads, intermediate_dim, **kwargs):
        super().__init__(num_heads, intermediate_dim, **kwargs)
        self.cross_attention_norm = layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
            name="cross_attention_norm")

    def build(self, x_shape, encoder_outputs_shape=None):
        super().build(x_shape)
        input_shape = x_shape
        encoder_shape = encoder_outputs_shape or x_shape
        dim = input_shape[-1]
        self.cross_attention = layers.MultiHeadAttention(
            self.num_heads, dim // self.num_heads, dropout=self.dropout,
            dtype=self.dtype_policy, name="cross_attention",
        )
        self.cross_attention.build(input_shape, encoder_shape)
        self.cross_attention_norm.build(input_shape)

    def call(self, x, encoder_outputs, padding_mask=None,
             encoder_padding_mask=None, training=None):
        causal = causal_mask(ops.shape(x)[1])
        self_mask = _attention_mask(padding_mask, causal)
        cross_mask = _attention_mask(encoder_padding_mask, None)
        x = self._residual(
            x, lambda h: self.attention(h, h, attention_mask=self_mask, training=training),
            self.attention_norm, training)
        x = self._residual(
            x, lambda h: self.cross_attention(
                h, encoder_outputs, attention_mask=cross_mask, training=training),
            self.cross_attention_norm, training)
        return self._residual(
            x, lambda h: self.ffn(h, training=training), self.ffn_norm, training)


# --------------------------------------------------------------------------
# Model builders


def _check_transformer_args(embed_dim, num_heads, intermediate_dim, dropout, activation,
                            sequence_length, **num_layers):
    _common.check_positive_int("embed_dim", embed_dim)
    _common.check_positive_int("num_heads", num_heads)
    if embed_dim % num_heads:
        raise ValueError(
            "`embed_dim` must be divisible by `num_heads`. "
            f"Received: embed_dim={embed_dim}, num_heads={num_heads}"
        )
    _common.check_positive_int("intermediate_dim", intermediate_dim)
    _common.check_rate("dropout", dropout)
    _common.check_choice("activation", activation, FFN_ACTIVATIONS)
    _common.check_positive_int("sequence_length", sequence_length)
    for key, value in num_layers.items():
        _common.check_positive_int(key, value)


def _encoder(tokens, padding_mask, vocab_size, sequence_length, embed_dim, num_heads,
             intermediate_dim, num_layers, dropout, activation, norm_first, prefix):
    x = TokenAndPositionEmbedding(vocab_size, sequence_length, embed_dim,
                                  name=f"{prefix}embedding")(tokens)  # (batch, seq, dim)
    x = layers.Dropout(dropout, name=f"{prefix}embedding_dropout")(x)
    for i in range(num_layers):
        x = TransformerEncoderBlock(
            num_heads, intermediate_dim, dropout=dropout, activation=activation,
            norm_first=norm_first, name=f"{prefix}encoder_{i}",
        )(x, padding_mask=padding_mask)
    if norm_first:  # pre-LN leaves the residual stream unnormalized
        x = layers.LayerNormalization(epsilon=1e-5, name=f"{prefix}encoder_norm")(x)
    return x


def TransformerClassifier(
    vocab_size=20000,
    sequence_length=256,
    embed_dim=128,
    num_heads=4,
    intermediate_dim=256,
    num_layers=2,
    dropout=0.1,
    activation="gelu",
    norm_first=False,
    pooling="mean",
    include_top=True,
    weights=None,
    classes=2,
    classifier_activation="softmax",
    name="transformer_classifier",
):
    """Transformer encoder over token ids, pooled, then a classifier.

    Args:
        vocab_size: token ids in `[0, vocab_size)`; 0 is padding.
        sequence_length: longest input (size of the position table); inputs
            may be shorter.
        embed_dim, num_heads, intermediate_dim, num_layers: encoder size.
        dropout: dropout rate throughout.
        activation: feed-forward activation (`"relu"`, `"gelu"`, `"glu"`,
            `"geglu"`, `"swiglu"`).
        norm_first: pre-LN (`True`) or post-LN (`False`, the original).
        pooling: `"mean"` (over non-padding tokens) or `"max"`.
        include_top, weights, classes, classifier_activation, name: as in
            keras.applications.
    """
    _common.check_positive_int("vocab_size", vocab_size, minimum=2)
    _check_transformer_args(embed_dim, num_heads, intermediate_dim, dropout, activation,
                            sequence_length, num_layers=num_layers)
    _common.check_choice("pooling", pooling, ("mean", "max"))
    _common.check_classes(classes, include_top)
    _common.check_weights_arg(weights)

    tokens = layers.Input(shape=(None,), dtype="int32", name="tokens")
    mask = PaddingMask(name="padding_mask")(tokens)  # (batch, seq)
    x = _encoder(tokens, mask, vocab_size, sequence_length, embed_dim, num_heads,
                 intermediate_dim, num_layers, dropout, activation, norm_first, "")
    if pooling == "mean":
        x = MaskedMeanPooling(name="pool")(x, mask)  # (batch, dim)
    else:
        x = MaskedMaxPooling(name="pool")(x, mask)  # (batch, dim)
    if include_top:
        x = layers.Dropout(dropout, name="head_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation,
                         dtype=_common.head_dtype(), name="predictions")(x)
    model = _common.task_model(tokens, x, name=name, task="text_classification",
                                 include_top=include_top)
    return load_weights(model, weights)


def TransformerSeq2Seq(
    source_vocab_size=8000,
    target_vocab_size=8000,
    sequence_length=64,
    embed_dim=256,
    num_heads=4,
    intermediate_dim=1024,
    num_encoder_layers=3,
    num_decoder_layers=3,
    dropout=0.1,
    activation="gelu",
    norm_first=True,
    classifier_activation="softmax",
    weights=None,
    name="transformer_seq2seq",
):
    """Encoder-decoder Transformer; the decoder is causal (teacher forcing).

    Inputs: `{"encoder_tokens": (batch, src_len), "decoder_tokens": (batch,
    tgt_len)}`, int32, 0 = padding. Output: `(batch, tgt_len,
    target_vocab_size)` next-token distributions. Decode with `greedy_decode`.
    """
    _common.check_positive_int("source_vocab_size", source_vocab_size, minimum=2)
    _common.check_positive_int("target_vocab_size", target_vocab_size, minimum=3)
    _check_transformer_args(embed_dim, num_heads, intermediate_dim, dropout, activation,
                            sequence_length, num_encoder_layers=num_encoder_layers,
                            num_decoder_layers=num_decoder_layers)
    _common.check_weights_arg(weights)

    src = layers.Input(shape=(None,), dtype="int32", name="encoder_tokens")
    tgt = layers.Input(shape=(None,), dtype="int32", name="decoder_tokens")
    src_mask = PaddingMask(name="encoder_padding_mask")(src)
    tgt_mask = PaddingMask(name="decoder_padding_mask")(tgt)
    memory = _encoder(src, src_mask, source_vocab_size, sequence_length, embed_dim,
                      num_heads, intermediate_dim, num_encoder_layers, dropout,
                      activation, norm_first, "source_")  # (batch, src, dim)

    y = TokenAndPositionEmbedding(target_vocab_size, sequence_length, embed_dim,
                                  name="target_embedding")(tgt)  # (batch, tgt, dim)
    y = layers.Dropout(dropout, name="target_embedding_dropout")(y)
    for i in range(num_decoder_layers):
        y = TransformerDecoderBlock(
            num_heads, intermediate_dim, dropout=dropout, activation=activation,
            norm_first=norm_first, name=f"decoder_{i}",
        )(y, memory, padding_mask=tgt_mask, encoder_padding_mask=src_mask)
    if norm_first:
        y = layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")(y)
    y = layers.Dense(target_vocab_size, activation=classifier_activation,
                     dtype=_common.head_dtype(), name="predictions")(y)
    model = _common.task_model({"encoder_tokens": src, "decoder_tokens": tgt}, y, name=name, task="seq2seq")
    return load_weights(model, weights)


def greedy_decode(model, encoder_tokens, *, start_id, end_id, max_length=None):
    """Greedy autoregressive decoding with a `TransformerSeq2Seq` model.

    The decoder input keeps one fixed length (`max_length`) so every step
    reuses the same compiled graph; the causal mask makes the padding to the
    right invisible to earlier positions.

    Args:
        model: a seq2seq model with `encoder_tokens`/`decoder_tokens` inputs.
        encoder_tokens: `(batch, src_len)` int array.
        start_id: token that starts every target sequence.
        end_id: token that ends one; later positions are left as padding (0).
        max_length: decoded length including `start_id` (default: the
            encoder input length).

    Returns:
        `(batch, max_length)` int32 array starting with `start_id`.
    """
    encoder_tokens = np.asarray(encoder_tokens, dtype="int32")
    if encoder_tokens.ndim != 2:
        raise ValueError(
            "`encoder_tokens` must be (batch, length). "
            f"Received shape: {encoder_tokens.shape}"
        )
    max_length = max_length or encoder_tokens.shape[1]
    batch = encoder_tokens.shape[0]
    decoded = np.zeros((batch, max_length), dtype="int32")
    decoded[:, 0] = start_id
    finished = np.zeros(batch, dtype=bool)
    for t in range(max_length - 1):
        probs = model({"encoder_tokens": encoder_tokens, "decoder_tokens": decoded},
                      training=False)
        next_ids = np.argmax(ops.convert_to_numpy(probs[:, t]), axis=-1).astype("int32")
        decoded[:, t + 1] = np.where(finished, 0, next_ids)
        finished |= next_ids == end_id
        if finished.all():
            break
    return decoded


# --------------------------------------------------------------------------
# Registered builders

_REF = "Vaswani et al. 2017, Attention Is All You Need, arXiv:1706.03762"
_CLS = dict(family="transformer", task="text_classification", input_shape=(None,),
            input_dtype="int32", reference=_REF)
_S2S = dict(family="transformer", task="seq2seq",
            input_shape={"encoder_tokens": (None,), "decoder_tokens": (None,)},
            input_dtype="int32", reference=_REF)


@register_model(**_CLS)
def transformer_classifier(**kwargs):
    """2-layer post-LN encoder, width 128, 4 heads, mean pooling."""
    return TransformerClassifier(**kwargs)


@register_model(**_S2S)
def transformer_seq2seq(**kwargs):
    """3+3-layer pre-LN encoder-decoder, width 256, 4 heads."""
    return TransformerSeq2Seq(**kwargs)


@register_model(**_CLS, tiny=True)
def transformer_tiny(**kwargs):
    """1-layer pre-LN SwiGLU encoder of width 16: for tests."""
    defaults = dict(vocab_size=100, sequence_length=32, embed_dim=16, num_heads=2,
                    intermediate_dim=32, num_layers=1, activation="swiglu",
                    norm_first=True, name="transformer_tiny")
    return TransformerClassifier(**{**defaults, **kwargs})


@register_model(**_S2S, tiny=True)
def transformer_seq2seq_tiny(**kwargs):
    """1+1-layer encoder-decoder of width 16: for tests."""
    defaults = dict(source_vocab_size=50, target_vocab_size=50, sequence_length=16,
                    embed_dim=16, num_heads=2, intermediate_dim=32,
                    num_encoder_layers=1, num_decoder_layers=1,
                    name="transformer_seq2seq_tiny")
    return TransformerSeq2Seq(**{**defaults, **kwargs})
