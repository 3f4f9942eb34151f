"""zoo.layers.BatchNormalization: the fused training kernel gives Keras' numbers."""

import numpy as np
import pytest
import tensorflow as tf
import keras

import zoo
from zoo.layers import BatchNormalization


def _train_once(layer, x, upstream):
    """Output, grads (x, gamma, beta) and moving statistics after one step."""

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        return y, tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])

    y, grads = step(x)
    return [y.numpy()] + [g.numpy() for g in grads] + [
        layer.moving_mean.numpy(),
        layer.moving_variance.numpy(),
    ]


@pytest.mark.parametrize("shape", [(8, 5, 5, 6), (16, 6), (4, 7, 6)])
def test_fused_training_matches_keras(shape):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2.0, 3.0, shape).astype("float32"))
    upstream = tf.constant(rng.normal(size=shape).astype("float32"))
    gamma = rng.normal(size=shape[-1:]).astype("float32")
    results = []
    for layer in (
        keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.9),
        BatchNormalization(epsilon=1e-3, momentum=0.9),
    ):
        layer.build(shape)
        layer.gamma.assign(gamma)
        layer.beta.assign(gamma * 0.5)
        results.append(_train_once(layer, x, upstream))
    names = ["output", "dx", "dgamma", "dbeta", "moving_mean", "moving_variance"]
    for name, ref, ours in zip(names, *results):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=2e-5, err_msg=name)


def test_fused_kernel_is_what_runs_in_training():
    layer = BatchNormalization()
    layer.build((2, 3, 3, 4))
    graph = tf.function(lambda x: layer(x, training=True)).get_concrete_function(
        tf.TensorSpec((2, 3, 3, 4), "float32")
    ).graph
    op_types = {op.type for op in graph.get_operations()}
    assert any(t.startswith("FusedBatchNorm") for t in op_types), op_types
    layer.fused = False
    graph = tf.function(lambda x: layer(x, training=True)).get_concrete_function(
        tf.TensorSpec((2, 3, 3, 4), "float32")
    ).graph
    assert not any(op.type.startswith("FusedBatchNorm") for op in graph.get_operations())


def test_inference_is_keras_computation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 4, 5)).astype("float32")
    ref = keras.layers.BatchNormalization()
    ours = BatchNormalization()
    ref.build(x.shape)
    ours.build(x.shape)
    for w_ref, w_ours in zip(ref.weights, ours.weights):
        value = rng.uniform(0.5, 1.5, size=w_ref.shape).astype("float32")
        w_ref.assign(value)
        w_ours.assign(value)
    np.testing.assert_array_equal(ours(x, training=False), ref(x, training=False))


def test_config_round_trip_and_saving(tmp_path):
    layer = BatchNormalization(fused=False, momentum=0.9, epsilon=1e-4, name="bn")
    clone = BatchNormalization.from_config(layer.get_config())
    assert clone.fused is False and clone.momentum == 0.9 and clone.epsilon == 1e-4
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, BatchNormalization(name="bn")(inputs))
    path = tmp_path / "bn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("bn")) is BatchNormalization


def test_bad_fused_argument_names_the_fix():
    with pytest.raises(ValueError, match="`fused` must be None, True or False"):
        BatchNormalization(fused="yes")
    layer = BatchNormalization(axis=1, fused=True)
    layer.build((2, 3, 4, 4))
    with pytest.raises(ValueError, match="fused=None"):
        layer(np.ones((2, 3, 4, 4), "float32"), training=True)


def test_zoo_models_use_the_layer_and_keep_kapp_names():
    model = zoo.resnet_tiny()
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert bns and all(type(l) is BatchNormalization for l in bns)
    assert "conv1_bn" in {l.name for l in bns}


def test_transformer_max_pooling_ignores_padding():
    """pooling='max' pools over real tokens only: padding to the right changes nothing."""
    from zoo.transformer import MaskedMaxPooling

    x = np.array([[[1.0, 5.0], [2.0, 0.0], [9.0, 9.0]]], "float32")
    pooled = MaskedMaxPooling()(x, np.array([[True, True, False]]))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(pooled), [[2.0, 5.0]])
    empty = MaskedMaxPooling()(x, np.array([[False, False, False]]))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(empty), [[0.0, 0.0]])
    model = zoo.transformer_tiny(pooling="max", classes=3)
    tokens = np.array([[5, 6, 7, 8]], "int32")
    padded = np.array([[5, 6, 7, 8, 0, 0, 0]], "int32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(tokens)),
                               keras.ops.convert_to_numpy(model(padded)), atol=1e-6)
