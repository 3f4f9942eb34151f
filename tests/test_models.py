"""The same checks for every registered model (timm style)."""

import numpy as np
import pytest

import keras

import zoo
from conftest import (example_inputs, example_targets, expected_output_shape, is_classifier, keras_loss,
                      small_kwargs)

ALL_MODELS = zoo.list_models()
# Variants trained through a smaller sibling: the same builder and blocks at other depths, widths or
# input stems. They are built and run forward here, their parameter counts and registry metadata are
# tested (test_registry, test_weights), and the ImageNet ones give keras.applications' outputs with
# copied weights (test_weights); their training step, config round trip and .keras file (minutes of
# the suite, eager on full-size graphs) repeat the checks of the sibling in the same row.
DEPTH_VARIANTS = {
    "resnet18": ["resnet34"],                                  # basic blocks
    "resnet_tiny": ["resnet50", "resnet101", "resnet152"],     # bottleneck blocks (ResNet builder)
    "resnet20": ["resnet32", "resnet44", "resnet56", "resnet110"],  # CIFAR option-A blocks
    "densenet_bc_100_k12": ["densenet121", "densenet169", "densenet201"],  # DenseNet-BC blocks
    "nasnet_tiny": ["nasnet_mobile", "nasnet_large", "nasnet_cifar"],  # NASNet-A cells
    "mobilenet_v2_tiny": ["mobilenet_v2", "mobilenet_v2_cifar"],  # inverted residual blocks (MobileNetV2)
    "mobilenet_v3_tiny": ["mobilenet_v3_small", "mobilenet_v3_large", "mobilenet_v3_small_minimalistic",
                          "mobilenet_v3_large_minimalistic"],  # MobileNetV3 blocks (squeeze-excite, hard-swish)
    "efficientnet_tiny": [f"efficientnet_b{i}" for i in range(8)],  # MBConv + squeeze-excite + swish
    "efficientnet_lite_tiny": [f"efficientnet_lite{i}" for i in range(5)],  # MBConv, ReLU6, no squeeze-excite
    "vit_nano": ["vit_tiny", "vit_small", "vit_base", "vit_cifar"],  # patch embedding + Transformer encoder
}
REPEATED = {v for variants in DEPTH_VARIANTS.values() for v in variants}
TRAINED = [n for n in ALL_MODELS if n not in REPEATED]

def _build(name):
    return zoo.create_model(name, **small_kwargs(name))


def test_depth_variants_name_registered_models_of_one_builder_family():
    for trained, variants in DEPTH_VARIANTS.items():  # (nasnet_tiny's row: the same builder, NASNet)
        assert trained in TRAINED
        for name in variants:
            assert zoo.get_spec(name).family == zoo.get_spec(trained).family, name


def test_every_family_is_registered_with_a_tiny_variant():
    families = zoo.list_families()
    assert families == ["densenet", "efficientnet", "mlp", "mobilenet", "nasnet", "resnet", "rnn", "transformer",
                        "vit"]
    for family in families:
        assert zoo.list_models(family=family, tiny=True), family


@pytest.mark.parametrize("name", TRAINED)  # the variants run forward at full size in test_registry
def test_forward_shape_and_finite(name):
    model = _build(name)
    x = example_inputs(model, batch=2)
    y = keras.ops.convert_to_numpy(model(x, training=False))
    assert y.shape == expected_output_shape(name, 2)
    assert np.isfinite(y).all()
    if is_classifier(model):  # softmax heads: rows are distributions
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", TRAINED)
def test_one_fit_step_is_finite_and_moves_weights(name):
    model = _build(name)
    x = example_inputs(model, batch=4)
    y = example_targets(model, model(x, training=False))
    loss = keras_loss(model)
    # Full-size graphs take ~10x longer to trace than to run one step, so
    # they train eagerly; tiny variants exercise the compiled train step, except
    # nasnet_tiny (~300 layers: 35 s to trace here), whose compiled training runs
    # under JAX's jit in test_core and whose DropPath trains compiled in test_weights.
    eager = not zoo.get_spec(name).tiny or len(model.layers) > 200
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, run_eagerly=eager)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = model.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("name", TRAINED)
def test_config_round_trip(name):
    model = _build(name)
    clone = model.__class__.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    x = example_inputs(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(clone(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        atol=1e-6,
    )


@pytest.mark.parametrize("name", zoo.list_models(tiny=True) + ["resnet18", "lstm_attention_classifier", "transformer_seq2seq"])
def test_keras_file_save_load_safe_mode(name, tmp_path):
    model = _build(name)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = example_inputs(model)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
        atol=1e-6,
    )
    # The builder's `weights=<path>` path reads the same file.
    again = zoo.create_model(name, **small_kwargs(name), weights=path)
    for a, b in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
