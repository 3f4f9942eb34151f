"""Registry, argument validation, layer behaviour, CLI and the JAX backend."""

import json

import numpy as np
import pytest

import keras

import zoo
from app import cli


# ---------------------------------------------------------------- registry


def test_list_models_is_sorted_and_filters_by_wildcard():
    names = zoo.list_models()
    assert names == sorted(names)
    assert zoo.list_models("resnet*") == [n for n in names if n.startswith("resnet")]
    assert {"resnet50", "resnet20", "densenet121", "densenet_bc_100_k12", "mlp",
            "lstm_classifier", "gru_classifier", "lstm_forecaster",
            "transformer_classifier", "transformer_seq2seq"} <= set(names)
    assert zoo.list_models("densenet*", tiny=True) == ["densenet_tiny"]
    assert set(zoo.list_models(task="forecasting")) >= {"lstm_forecaster", "gru_forecaster"}


def test_create_model_applies_overrides():
    model = zoo.create_model("resnet20", classes=10)
    assert model.output_shape == (None, 10)
    # He et al. 2016: 0.27M; 269,722 trainable + BatchNorm moving statistics.
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert (trainable, model.count_params()) == (269_722, 271_098)


def test_unknown_model_name_lists_close_matches():
    with pytest.raises(ValueError, match="resnet50") as err:
        zoo.create_model("resnet05")
    assert "Received: name='resnet05'" in str(err.value) and "Did you mean" in str(err.value)


def test_model_info_reports_family_task_input_and_params():
    info = zoo.model_info("resnet50")
    assert info["family"] == "resnet"
    assert info["task"] == "image_classification"
    assert info["input"] == {"shape": (224, 224, 3), "dtype": "float32"}
    assert info["params"] == 25_636_712
    assert "He et al" in info["reference"]
    assert zoo.model_info("lstm_classifier")["input"]["dtype"] == "int32"


def test_densenet_bc_has_about_0p8m_params():
    assert zoo.create_model("densenet_bc_100_k12").count_params() == 793_150


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "builder,kwargs,message",
    [
        (zoo.resnet50, dict(input_shape=(16, 16, 3)), "at least 32x32"),
        (zoo.resnet50, dict(input_shape=(224, 224)), "height, width, channels"),
        (zoo.resnet20, dict(classes=0), "Received: classes=0"),
        (zoo.densenet121, dict(classes=-3), "Received: classes=-3"),
        (zoo.mlp, dict(classes=1.5), "classes"),
        (zoo.resnet50, dict(weights="/no/such/file.h5"), "Received: weights='/no/such/file.h5'"),
        (zoo.resnet50, dict(pooling="mean", include_top=False), "pooling"),
        (zoo.resnet50, dict(weights="imagenet", input_shape=(224, 224, 1)), "3 input channels"),
        (zoo.resnet20, dict(weights="imagenet"), "weights"),
        (zoo.lstm_classifier, dict(cell="rnn"), "Received: cell='rnn'"),
        (zoo.lstm_classifier, dict(dropout=1.0), "dropout"),
        (zoo.transformer_classifier, dict(embed_dim=30, num_heads=4), "num_heads"),
        (zoo.transformer_classifier, dict(activation="swish2"), "activation"),
    ],
)
def test_bad_arguments_raise_value_errors_that_say_what_was_received(builder, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        builder(**kwargs)


# ---------------------------------------------------------------- behaviour


def _tokens(rng, length, vocab=100):
    return rng.integers(1, vocab, size=(2, length)).astype("int32")


@pytest.mark.parametrize("name", ["lstm_classifier_tiny", "gru_classifier_tiny", "transformer_tiny"])
def test_right_padding_does_not_change_text_predictions(name):
    model = zoo.create_model(name)
    rng = np.random.default_rng(0)
    tokens = _tokens(rng, 10)
    padded = np.concatenate([tokens, np.zeros((2, 6), "int32")], axis=1)
    a = keras.ops.convert_to_numpy(model(tokens, training=False))
    b = keras.ops.convert_to_numpy(model(padded, training=False))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_decoder_is_causal():
    model = zoo.transformer_seq2seq_tiny()
    rng = np.random.default_rng(0)
    enc = _tokens(rng, 16, vocab=50)
    dec = _tokens(rng, 16, vocab=50)
    changed = dec.copy()
    changed[:, 9:] = rng.integers(1, 50, size=(2, 7))
    a = keras.ops.convert_to_numpy(model({"encoder_tokens": enc, "decoder_tokens": dec}))
    b = keras.ops.convert_to_numpy(model({"encoder_tokens": enc, "decoder_tokens": changed}))
    np.testing.assert_allclose(a[:, :9], b[:, :9], atol=1e-5)  # past is blind to the future
    assert not np.allclose(a[:, 9:], b[:, 9:])


def _always_predicts(model, token):
    """Make the decoder head predict `token` at every position (zero kernel, one large bias)."""
    head = model.get_layer("predictions")
    kernel, bias = head.get_weights()
    bias = np.zeros_like(bias)
    bias[token] = 10.0
    head.set_weights([np.zeros_like(kernel), bias])
    return model


def test_greedy_decode_starts_with_start_id_and_pads_after_end():
    enc = _tokens(np.random.default_rng(0), 16, vocab=50)
    ends = _always_predicts(zoo.transformer_seq2seq_tiny(), 2)
    out = zoo.transformer.greedy_decode(ends, enc, start_id=1, end_id=2, max_length=8)
    np.testing.assert_array_equal(out, [[1, 2, 0, 0, 0, 0, 0, 0]] * 2)  # end, then padding
    never = _always_predicts(zoo.transformer_seq2seq_tiny(), 5)
    out = zoo.transformer.greedy_decode(never, enc, start_id=1, end_id=2, max_length=8)
    np.testing.assert_array_equal(out, [[1, 5, 5, 5, 5, 5, 5, 5]] * 2)  # no end: max_length tokens


def test_mixed_bfloat16_keeps_recurrent_layers_and_head_in_float32():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = zoo.lstm_classifier_tiny()
    recurrent = [l for l in model.layers if "lstm" in l.name]
    assert recurrent and all(l.dtype_policy.name == "float32" for l in recurrent)
    assert model.get_layer("embedding").dtype_policy.name == "mixed_bfloat16"
    assert model.output.dtype == "float32"
    out = model(_tokens(np.random.default_rng(0), 8), training=False)
    assert np.isfinite(keras.ops.convert_to_numpy(out)).all()


def test_cifar_resnet_uses_parameter_free_option_a_shortcuts():
    model = zoo.resnet20(classes=10)
    shortcuts = [l for l in model.layers if isinstance(l, zoo.resnet.ZeroPadShortcut)]
    assert len(shortcuts) == 2 and all(not l.weights for l in shortcuts)


# ---------------------------------------------------------------- CLI


def test_cli_list_and_info(capsys):
    assert cli.main(["list", "densenet*"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [r.split()[0] for r in rows[1:]] == zoo.list_models("densenet*")
    assert cli.main(["info", "mlp"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["params"] == 669_706 and info["family"] == "mlp"


def test_cli_unknown_model_is_a_clear_error(capsys):
    assert cli.main(["info", "resnet_50"]) == 2
    assert "resnet50" in capsys.readouterr().err


@pytest.mark.parametrize("name", zoo.list_models(task="text_classification", tiny=True))
def test_all_padding_input_gives_finite_predictions(name):
    # An empty or all-punctuation text vectorizes to zeros only.
    out = keras.ops.convert_to_numpy(zoo.create_model(name)(np.zeros((2, 8), "int32"), training=False))
    assert np.isfinite(out).all()
