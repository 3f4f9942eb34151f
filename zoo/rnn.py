"""LSTM/GRU text classifiers and time-series forecasters.

References:
- Hochreiter & Schmidhuber 1997 (LSTM); Cho et al. 2014 (GRU,
  https://arxiv.org/abs/1406.1078).
- Attention pooling: Zhou et al. 2016, "Attention-Based Bidirectional Long
  Short-Term Memory Networks for Relation Classification" (ACL), and Yang et
  al. 2016 (HAN): score each step, softmax over the unmasked steps, sum.
- The `lstm_classifier` default is Keras' bidirectional-LSTM IMDB example
  (Embedding 20000x128, two BiLSTM-64 layers; 84.28% test accuracy there).

Token id 0 is padding: the embedding masks it, so recurrent layers and the
attention pooling skip padded steps.

Under mixed precision the recurrent layers stay float32 (their bf16 kernels
are missing or unstable on some backends); everything around them follows
the global policy.

Example:

```python
from zoo import lstm_classifier, lstm_forecaster
clf = lstm_classifier(vocab_size=20000, classes=2, attention=True)
fc = lstm_forecaster(input_shape=(12, 1), horizon=1)
```
"""

import keras
from keras import layers, ops

from zoo import _common
from zoo.layers import TokenIds
from zoo.registry import register_model
from zoo.weights import load_weights

CELLS = {"lstm": layers.LSTM, "gru": layers.GRU}


@keras.saving.register_keras_serializable(package="zoo")
class AttentionPooling(layers.Layer):
    """Additive attention pooling over time: `sum_t softmax(v.tanh(W h_t)) h_t`.

    Masked steps get no weight. Zhou et al. 2016 (ACL, P16-2034) use it over
    BiLSTM outputs for classification.

    Args:
        units: size of the hidden scoring layer.

    Example:

    ```python
    import numpy as np
    pooled = AttentionPooling(16)(np.random.rand(2, 5, 8).astype("float32"))
    pooled.shape  # (2, 8)
    ```
    """

    def __init__(self, units=64, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        self.score_hidden = layers.Dense(
            self.units, activation="tanh", dtype=self.dtype_policy, name="score_hidden"
        )
        self.score_hidden.build(input_shape)
        self.score = layers.Dense(1, use_bias=False, dtype=self.dtype_policy, name="score")
        self.score.build(tuple(input_shape[:-1]) + (self.units,))

    def call(self, inputs, mask=None):
        scores = self.score(self.score_hidden(inputs))[..., 0]  # (batch, time)
        if mask is not None:
            # Large negative rather than -inf: an all-padding row stays finite.
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(ops.cast(scores, "float32"), axis=-1)
        weights = ops.cast(weights, inputs.dtype)
        return ops.sum(inputs * weights[..., None], axis=1)  # (batch, features)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def _recurrent_dtype():
    if keras.config.dtype_policy().name.startswith("mixed"):
        return "float32"
    return None


def _recurrent(cell, units, return_sequences, bidirectional, dropout, name):
    rnn = CELLS[cell](
        units, return_sequences=return_sequences, dropout=dropout,
        dtype=_recurrent_dtype(), name=name,
    )
    if bidirectional:
        return layers.Bidirectional(rnn, dtype=_recurrent_dtype(), name=f"bi_{name}")
    return rnn


def _check_rnn_args(cell, units, dropout):
    _common.check_choice("cell", cell, tuple(CELLS))
    if isinstance(units, int):
        units = (units,)
    _common.check_positive_ints("units", units)
    _common.check_rate("dropout", dropout)
    return tuple(units)


def RNNClassifier(
    vocab_size=20000,
    sequence_length=None,
    embed_dim=128,
    units=(64, 64),
    cell="lstm",
    bidirectional=True,
    attention=False,
    attention_units=64,
    dropout=0.0,
    head_dropout=0.0,
    include_top=True,
    weights=None,
    classes=2,
    classifier_activation="softmax",
    name=None,
):
    """Embedding (mask_zero) -> stacked [Bi]LSTM/GRU -> last state or attention.

    Args:
        vocab_size: token ids are in `[0, vocab_size)`; 0 is padding.
        sequence_length: fixed length, or `None` for any length.
        embed_dim: embedding size.
        units: units per stacked recurrent layer.
        cell: `"lstm"` or `"gru"`.
        bidirectional: wrap each recurrent layer in `Bidirectional`.
        attention: pool all steps with `AttentionPooling` instead of taking
            the last layer's final state.
        attention_units: hidden size of the attention scorer.
        dropout: input dropout of each recurrent layer.
        head_dropout: dropout before the classifier.
        include_top, weights, classes, classifier_activation, name: as in
            keras.applications.
    """
    _common.check_positive_int("vocab_size", vocab_size, minimum=2)
    if sequence_length is not None:
        _common.check_positive_int("sequence_length", sequence_length)
    _common.check_positive_int("embed_dim", embed_dim)
    units = _check_rnn_args(cell, units, dropout)
    _common.check_rate("head_dropout", head_dropout)
    _common.check_classes(classes, include_top)
    _common.check_weights_arg(weights)

    inputs = layers.Input(shape=(sequence_length,), dtype="int32", name="tokens")
    ids = TokenIds(vocab_size, name="token_ids")(inputs)  # out-of-range ids -> [UNK], on every backend
    x = layers.Embedding(vocab_size, embed_dim, mask_zero=True, name="embedding")(ids)
    for i, n in enumerate(units):
        last = i == len(units) - 1
        x = _recurrent(
            cell, n, return_sequences=attention or not last,
            bidirectional=bidirectional, dropout=dropout, name=f"{cell}_{i}",
        )(x)  # (batch, time, features) or (batch, features) for the last
    if attention:
        x = AttentionPooling(attention_units, name="attention_pool")(x)
    if head_dropout:
        x = layers.Dropout(head_dropout, name="head_dropout")(x)
    if include_top:
        x = layers.Dense(
            classes, activation=classifier_activation,
            dtype=_common.head_dtype(), name="predictions",
        )(x)
    default_name = f"{'bi' if bidirectional else ''}{cell}_classifier"
    model = _common.task_model(inputs, x, name=name or default_name, task="text_classification",
                                 include_top=include_top)
    return load_weights(model, weights)


@keras.saving.register_keras_serializable(package="zoo")
class NaiveForecast(layers.Layer):
    """The naive forecast a forecaster learns to correct (the benchmarks of Hyndman & Athanasopoulos,
    "Forecasting: Principles and Practice", ch. 5.2): step `k` ahead is the input value `lag` steps before
    it, `x[:, window - lag + k % lag]` (lag 1: the last value; lag = the season: seasonal naive); with
    `drift`, the last value plus `k + 1` times the window's average step (the drift method, for a series
    that trends). No weights: `(batch, window, features) -> (batch, horizon, features)`.

    Args:
        horizon: steps ahead.
        lag: steps back (1 or the season; at most the window).
        drift: the drift method instead (needs `lag=1` and a window of 2 or more).
    """

    def __init__(self, horizon, lag=1, drift=False, **kwargs):
        super().__init__(**kwargs)
        _common.check_positive_int("horizon", horizon)
        _common.check_positive_int("lag", lag)
        if drift and lag != 1:
            raise ValueError(f"The drift method extends the last value: lag must be 1. Received: lag={lag}")
        self.horizon, self.lag, self.drift = horizon, lag, bool(drift)

    def call(self, inputs):
        window = inputs.shape[1]
        start = window - self.lag
        # Slices and a concatenation (not a gather): LiteRT's converter turns them into builtin ops in the
        # fixed-batch recurrent files too. The last season, repeated until the horizon is covered.
        pieces = [inputs[:, start:start + min(self.lag, self.horizon - k)] for k in range(0, self.horizon, self.lag)]
        naive = pieces[0] if len(pieces) == 1 else keras.ops.concatenate(pieces, axis=1)  # (batch, horizon, f)
        if not self.drift:
            return naive
        step = (inputs[:, window - 1:] - inputs[:, :1]) / (window - 1)  # (batch, 1, features)
        ahead = keras.ops.reshape(keras.ops.arange(1, self.horizon + 1, dtype=naive.dtype), (1, self.horizon, 1))
        return naive + ahead * step  # last + (k + 1) * (last - first) / (window - 1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.horizon, input_shape[2])

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon, "lag": self.lag, "drift": self.drift}


def _naive_lag(base, season, input_shape, output_features):
    """How many steps back the naive base reads (`NaiveForecast`'s `lag`), or None without a base; a base
    the window or the outputs cannot serve is a `ValueError` that names the fix."""
    _common.check_choice("base", base, ("last", "seasonal", "drift", None))
    if base is None:
        return None
    window, features = input_shape
    lag = 1
    if base == "seasonal":
        _common.check_positive_int("season", season)
        lag = season
    needed = 2 if base == "drift" else lag  # the drift method reads the first and the last value
    if window is None or window < needed:
        raise ValueError(f"base={base!r} needs a known window of at least {needed} steps. Received: "
                         f"input_shape={input_shape!r}, season={season!r}")
    if output_features != features:
        raise ValueError(f"base={base!r} forecasts every input feature; output_features={output_features} "
                         f"differs from the {features} input features. Pass base=None.")
    return lag


def RNNForecaster(
    input_shape=(12, 1),
    units=(64,),
    cell="lstm",
    bidirectional=False,
    dropout=0.0,
    horizon=1,
    output_features=None,
    base="last",
    season=None,
    weights=None,
    name=None,
):
    """Window of past values -> the next `horizon` steps.

    With a `base`, the network learns the correction to a naive forecast (`NaiveForecast`; after a seasonal
    or drift base its last layer starts at zero, so an untrained model *is* that forecast), and
    `zoo.train.fit` keeps the correction only where it beats the naive forecast on the validation windows.

    Args:
        input_shape: `(window, features)`; `window` may be `None` without a base.
        units, cell, bidirectional, dropout: the recurrent stack.
        horizon: steps ahead to predict.
        output_features: features predicted per step (default: all inputs).
        base: `"last"` (the last value), `"seasonal"` (the value one `season` earlier), `"drift"` (the
            last value plus the window's average step) or None (the network forecasts alone).
        season: steps per season, for `base="seasonal"` (at most the window).
        weights: `None` or a weights file path.
        name: model name.

    Returns:
        A model mapping `(batch, window, features)` to
        `(batch, horizon, output_features)`.
    """
    if input_shape is None or len(tuple(input_shape)) != 2 or not isinstance(input_shape[1], int):
        raise ValueError(
            "`input_shape` of a forecaster must be (window, features) with a "
            f"known number of features. Received: input_shape={input_shape!r}"
        )
    window, features = input_shape
    if window is not None:
        _common.check_positive_int("window (input_shape[0])", window)
    units = _check_rnn_args(cell, units, dropout)
    _common.check_positive_int("horizon", horizon)
    output_features = features if output_features is None else output_features
    _common.check_positive_int("output_features", output_features)
    _common.check_weights_arg(weights)
    lag = _naive_lag(base, season, input_shape, output_features)

    inputs = layers.Input(shape=(window, features), name="series")
    x = inputs
    for i, n in enumerate(units):
        x = _recurrent(
            cell, n, return_sequences=i < len(units) - 1,
            bidirectional=bidirectional, dropout=dropout, name=f"{cell}_{i}",
        )(x)
    # A correction to a seasonal or drift forecast starts at 0: the untrained model is that forecast. After a
    # last-value base it starts as Keras initialises it: in the relative transform (`series:`'s default) that
    # base is 0 anyway, and a zero last layer only slows the start. Measured on benchmarks/forecasting.py's
    # 8 series x 3 seeds (test RMSE / Holt-Winters): zero start 0.968 on average, default start 0.951;
    # the seasonal base gained from the zero start (airline 1.00 vs 1.17), last-value bases lost (GDP 1.31 vs 1.05).
    x = layers.Dense(horizon * output_features, dtype=_common.head_dtype(), name="forecast",
                     **({"kernel_initializer": "zeros"} if base in ("seasonal", "drift") else {}))(x)
    if lag:
        naive = NaiveForecast(horizon, lag, drift=base == "drift", dtype=_common.head_dtype(),
                              name="naive_forecast")(inputs)  # (batch, horizon, features)
        # Added flat, (batch, horizon * features): a rank-3 add of the fixed-batch recurrent LiteRT file
        # is rewritten by TensorFlow's graph optimizer into a BiasAdd that the converter then rejects.
        naive = layers.Reshape((horizon * output_features,), dtype=_common.head_dtype(), name="naive_flat")(naive)
        x = layers.Add(dtype=_common.head_dtype(), name="corrected_forecast")([naive, x])
    x = layers.Reshape((horizon, output_features), name="forecast_steps")(x)
    model = _common.task_model(inputs, x, name=name or f"{cell}_forecaster", task="forecasting")
    return load_weights(model, weights)


# --------------------------------------------------------------------------
# Registered builders

_REF_CLS = "Keras examples, bidirectional LSTM on IMDB; Zhou et al. 2016 (attention pooling)"
_REF_FC = "Hochreiter & Schmidhuber 1997; Cho et al. 2014, arXiv:1406.1078"
_TEXT = dict(family="rnn", task="text_classification", input_shape=(None,), input_dtype="int32")
_SERIES = dict(family="rnn", task="forecasting", input_shape=(12, 1))


@register_model(**_TEXT, reference=_REF_CLS)
def lstm_classifier(**kwargs):
    """Embedding 20000x128 + 2 x BiLSTM-64 (Keras' IMDB example)."""
    return RNNClassifier(**{"cell": "lstm", **kwargs})


@register_model(**_TEXT, reference=_REF_CLS)
def gru_classifier(**kwargs):
    """Embedding 20000x128 + 2 x BiGRU-64."""
    return RNNClassifier(**{"cell": "gru", **kwargs})


@register_model(**_TEXT, reference=_REF_CLS)
def lstm_attention_classifier(**kwargs):
    """BiLSTM-64 with attention pooling (Zhou et al. 2016)."""
    defaults = dict(cell="lstm", units=(64,), attention=True, head_dropout=0.3,
                    name="lstm_attention_classifier")
    return RNNClassifier(**{**defaults, **kwargs})


@register_model(**_SERIES, reference=_REF_FC)
def lstm_forecaster(**kwargs):
    """LSTM-64 over a 12-step window, one step ahead."""
    return RNNForecaster(**{"cell": "lstm", **kwargs})


@register_model(**_SERIES, reference=_REF_FC)
def gru_forecaster(**kwargs):
    """GRU-64 over a 12-step window, one step ahead."""
    return RNNForecaster(**{"cell": "gru", **kwargs})


@register_model(**_TEXT, reference=_REF_CLS, tiny=True)
def lstm_classifier_tiny(**kwargs):
    """BiLSTM-8 with attention over a 100-token vocabulary: for tests."""
    defaults = dict(cell="lstm", vocab_size=100, embed_dim=8, units=(8,),
                    attention=True, attention_units=8, name="lstm_classifier_tiny")
    return RNNClassifier(**{**defaults, **kwargs})


@register_model(**_TEXT, reference=_REF_CLS, tiny=True)
def gru_classifier_tiny(**kwargs):
    """Two stacked unidirectional GRU-8 layers: for tests."""
    defaults = dict(cell="gru", vocab_size=100, embed_dim=8, units=(8, 8),
                    bidirectional=False, name="gru_classifier_tiny")
    return RNNClassifier(**{**defaults, **kwargs})


@register_model(**_SERIES, reference=_REF_FC, tiny=True)
def lstm_forecaster_tiny(**kwargs):
    """LSTM-8 forecaster, two steps ahead: for tests."""
    defaults = dict(cell="lstm", units=(8,), horizon=2, name="lstm_forecaster_tiny")
    return RNNForecaster(**{**defaults, **kwargs})
