"""keras.applications parity: parameter counts and weight transfer."""

import numpy as np
import pytest

import keras

import zoo
from zoo import registry
from zoo import weights as zw

PARITY = {
    "resnet50": (keras.applications.ResNet50, 25_636_712),
    "resnet101": (keras.applications.ResNet101, 44_707_176),
    "resnet152": (keras.applications.ResNet152, 60_419_944),
    "densenet121": (keras.applications.DenseNet121, 8_062_504),
    "densenet169": (keras.applications.DenseNet169, 14_307_880),
    "densenet201": (keras.applications.DenseNet201, 20_242_984),
    "nasnet_mobile": (keras.applications.NASNetMobile, 5_326_716),
    "nasnet_large": (keras.applications.NASNetLarge, 88_949_818),
    "mobilenet_v2": (keras.applications.MobileNetV2, 3_538_984),
    "mobilenet_v3_small": (keras.applications.MobileNetV3Small, 2_554_968),
    "mobilenet_v3_large": (keras.applications.MobileNetV3Large, 5_507_432),
}


@pytest.mark.parametrize("name", sorted(PARITY))
def test_parameter_count_matches_keras_applications(name):
    # test_registry builds every model and checks that the committed catalog holds its count, so the
    # full-size graphs are built once per suite, not twice.
    _, expected = PARITY[name]
    assert registry.read_catalog()[name]["params"] == expected


def _randomize(model, seed=0):
    """Random weights everywhere, including BatchNorm moving statistics, so a
    mis-mapped layer cannot hide behind identity-like initial values."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        new = []
        for w in layer.get_weights():
            if "batch_normalization" in layer.__class__.__name__.lower() or isinstance(
                layer, keras.layers.BatchNormalization
            ):
                new.append(rng.uniform(0.5, 1.5, size=w.shape).astype(w.dtype))
            else:
                new.append((rng.normal(size=w.shape) * 0.05).astype(w.dtype))
        if new:
            layer.set_weights(new)


def _kapp_small(name, include_top):
    builder, _ = PARITY[name]
    kwargs = dict(weights=None, include_top=include_top)
    if include_top:
        kwargs.update(input_shape=(64, 64, 3), classes=7)
    else:
        kwargs.update(input_shape=(64, 64, 3), pooling="avg")
    model = builder(**kwargs)
    _randomize(model)
    return model


@pytest.mark.parametrize(
    "name,include_top",
    # Without the top, NASNet maps the same layers as with it (the head is the difference, and
    # resnet50 covers the pooled no-top path).
    [("resnet50", True), ("resnet50", False), ("densenet121", True), ("nasnet_mobile", True),
     ("mobilenet_v2", True), ("mobilenet_v3_small", True), ("mobilenet_v3_large", False)],
)
def test_weights_copied_from_a_keras_applications_model_give_equal_outputs(
    name, include_top
):
    kapp = _kapp_small(name, include_top)
    ours = zw.from_keras_applications(kapp)
    x = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(kapp(x, training=False))
    got = keras.ops.convert_to_numpy(ours(x, training=False))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


def test_legacy_h5_weights_file_loads_through_the_builder(tmp_path):
    # keras.applications' downloadable files are legacy HDF5 weight files;
    # `model.save("*.h5")` writes the same layer_names/weight_names layout.
    kapp = _kapp_small("resnet50", include_top=True)
    path = str(tmp_path / "resnet50_legacy.h5")
    kapp.save(path)
    ours = zoo.resnet50(
        weights=path, input_shape=(64, 64, 3), classes=7, stride_in_1x1=True
    )
    x = np.random.default_rng(2).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x, training=False)),
        keras.ops.convert_to_numpy(kapp(x, training=False)),
        atol=1e-5,
        rtol=1e-5,
    )


def test_imagenet_weights_are_fetched_with_keras_get_file(tmp_path, monkeypatch):
    kapp = _kapp_small("densenet121", include_top=False)
    path = str(tmp_path / "densenet121_notop.h5")
    kapp.save(path)
    calls = []

    def fake_get_file(fname, origin, **kwargs):
        calls.append((fname, origin, kwargs))
        return path

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    ours = zoo.densenet121(
        weights="imagenet", include_top=False, pooling="avg", input_shape=(64, 64, 3)
    )
    fname, origin, kwargs = calls[0]
    assert fname.endswith("_notop.h5") and origin.startswith("https://")
    assert kwargs["cache_subdir"] == "models" and kwargs["file_hash"]
    x = np.random.default_rng(3).normal(size=(1, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ours(x, training=False)),
        keras.ops.convert_to_numpy(kapp(x, training=False)),
        atol=1e-5,
        rtol=1e-5,
    )


@pytest.mark.parametrize("alpha", [0.35, 1.3])
def test_mobilenet_v2_widths_load_keras_applications_files_by_name(alpha, tmp_path, monkeypatch):
    # keras.applications' MobileNetV2 files are named by width and input size; its width rounding (multiples of
    # 8, the last convolution widened above 1.0) is what makes them fit.
    kapp = keras.applications.MobileNetV2(weights=None, include_top=False, alpha=alpha, input_shape=(96, 96, 3),
                                          pooling="avg")
    _randomize(kapp)
    path = str(tmp_path / "kapp.h5")
    kapp.save(path)
    calls = []
    monkeypatch.setattr(keras.utils, "get_file", lambda fname, origin, **kw: calls.append((fname, origin)) or path)
    ours = zoo.mobilenet_v2(alpha=alpha, weights="imagenet", include_top=False, input_shape=(96, 96, 3),
                            pooling="avg")
    assert calls[0][0] == f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_96_no_top.h5"
    assert calls[0][1].startswith("https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/")
    assert ours.count_params() == kapp.count_params()
    x = np.random.default_rng(4).normal(size=(2, 96, 96, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=False)),
                               keras.ops.convert_to_numpy(kapp(x, training=False)), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"ImageNet weights .* `alpha` in \[0.35, 0.5, 0.75, 1.0, 1.3, 1.4\]"):
        zoo.mobilenet_v2(alpha=0.6, weights="imagenet")  # no ImageNet file at this width


@pytest.mark.parametrize("builder, kwargs, expected", [
    (keras.applications.MobileNetV3Large, {"alpha": 0.75}, ("mobilenet_v3_large", 0.75)),
    (keras.applications.MobileNetV3Small, {"minimalistic": True}, ("mobilenet_v3_small_minimalistic", 1.0)),
])
def test_mobilenet_v3_variants_are_recognised_and_load_their_imagenet_files(builder, kwargs, expected, tmp_path,
                                                                           monkeypatch):
    # keras.applications names every V3 "MobileNetV3Small/Large": the width is read from its blocks' channels
    # and `minimalistic` from the missing squeeze-excite; its Rescaling (0-255 pixels) comes along.
    kapp = builder(weights=None, input_shape=(64, 64, 3), classes=7, **kwargs)
    _randomize(kapp)
    ours = zw.from_keras_applications(kapp)
    name, alpha = expected
    assert ours.name == name and ours.get_layer("rescaling")
    x = np.random.default_rng(5).uniform(0, 255, size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=False)),
                               keras.ops.convert_to_numpy(kapp(x, training=False)), atol=1e-5, rtol=1e-5)
    path = str(tmp_path / "kapp.h5")
    kapp.save(path)
    calls = []
    monkeypatch.setattr(keras.utils, "get_file", lambda fname, origin, **kw: calls.append((fname, kw)) or path)
    with pytest.raises(ValueError, match="do not match the model architecture"):  # 7 classes, not 1000
        zoo.create_model(name, alpha=alpha, weights="imagenet", include_preprocessing=True)
    variant = f"{name.split('_')[2]}{'_minimalistic' if 'minimalistic' in name else ''}_224_{alpha}_float"
    assert calls[0][0] == f"weights_mobilenet_v3_{variant}.h5" and calls[0][1]["file_hash"]


# keras.applications' EfficientNets count the 7 statistics of their input Normalization layer (the zoo's takes
# its ImageNet mean/std as constants, `include_preprocessing=True`): B0 5,330,571, B3 12,320,535, B7 66,658,687.
EFFICIENTNET_PARITY = {"efficientnet_b0": 5_330_571 - 7, "efficientnet_b3": 12_320_535 - 7,
                       "efficientnet_b7": 66_658_687 - 7}
# EfficientNet-Lite has no keras.applications counterpart: TensorFlow's reference counts (trainable parameters,
# without batch-norm statistics), as its model cards and timm's tf_efficientnet_lite list them.
LITE_TRAINABLE = {"efficientnet_lite0": 4_652_008, "efficientnet_lite1": 5_416_680, "efficientnet_lite2": 6_092_072,
                  "efficientnet_lite3": 8_197_096, "efficientnet_lite4": 13_006_568}


def test_efficientnet_parameter_counts():
    catalog = registry.read_catalog()
    for name, expected in EFFICIENTNET_PARITY.items():
        assert catalog[name]["params"] == expected, name
    for name, expected in LITE_TRAINABLE.items():
        model = zoo.create_model(name)
        assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == expected, name


def test_vit_parameter_counts_equal_the_reference_implementations():
    # ViT-B/16 as in the paper's code (and timm's vit_base_patch16_224), Ti/S at DeiT's widths: 1,000 classes.
    catalog = registry.read_catalog()
    assert {n: catalog[n]["params"] for n in ("vit_tiny", "vit_small", "vit_base")} == {
        "vit_tiny": 5_717_416, "vit_small": 22_050_664, "vit_base": 86_567_656}
    with pytest.raises(ValueError, match=r"multiples of `patch_size` \(16\). Received: input_shape=\(40, 40, 3\)"):
        zoo.vit_tiny(input_shape=(40, 40, 3))
    with pytest.raises(ValueError, match="`embed_dim` must be divisible by `num_heads`"):
        zoo.vit.ViT(embed_dim=10, num_heads=3)


def test_efficientnet_b0_with_keras_applications_weights_gives_its_outputs(tmp_path, monkeypatch):
    # keras.applications' model divides by 255 and normalizes inside (an identity Normalization without
    # ImageNet weights): the zoo model is fed what its first convolution sees. Its stochastic depth is the
    # zoo's DropPath (no variables), its names keras.applications' own.
    kapp = keras.applications.EfficientNetB0(weights=None, input_shape=(64, 64, 3), classes=7)
    _randomize(kapp)
    ours = zoo.efficientnet_b0(input_shape=(64, 64, 3), classes=7)
    zw.transfer_weights(kapp, ours)
    x = np.random.default_rng(6).uniform(0, 255, size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x / 255.0, training=False)),
                               keras.ops.convert_to_numpy(kapp(x, training=False)), atol=1e-5, rtol=1e-5)
    path = str(tmp_path / "b0.h5")
    kapp.save(path)
    calls = []
    monkeypatch.setattr(keras.utils, "get_file", lambda fname, origin, **kw: calls.append((fname, origin, kw)) or path)
    with pytest.raises(ValueError, match="do not match the model architecture"):  # 7 classes, not 1000
        zoo.efficientnet_b0(weights="imagenet")
    assert calls[0][0] == "efficientnetb0.h5" and calls[0][1] == "https://storage.googleapis.com/keras-applications/" \
        "efficientnetb0.h5" and calls[0][2]["file_hash"] == "902e53a9f72be733fc0bcb005b3ebbac"
    with pytest.raises(ValueError, match="neither a weight set of 'efficientnet_lite0'"):
        zoo.efficientnet_lite0(weights="imagenet")  # keras.applications has no Lite files
    with pytest.raises(ValueError, match="EfficientNet-Lite has none in keras.applications"):
        zoo.efficientnet.EfficientNet(lite=True, weights="imagenet")


def test_efficientnet_preprocessing_normalizes_pixels_as_imagenet_training_did():
    model = zoo.efficientnet_tiny(include_preprocessing=True)
    plain = zoo.efficientnet_tiny()
    plain.set_weights(model.get_weights())
    x = np.random.default_rng(7).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)),
                               keras.ops.convert_to_numpy(plain(((x / 255.0 - mean) / std).astype("float32"),
                                                                training=False)), atol=1e-5)


def test_mismatched_weights_raise_and_leave_the_model_untouched(tmp_path):
    kapp = _kapp_small("resnet50", include_top=True)  # 7 classes
    path = str(tmp_path / "r50.h5")
    kapp.save(path)
    model = zoo.resnet50(input_shape=(64, 64, 3), classes=5, stride_in_1x1=True)
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="do not match the model architecture"):
        zw.transfer_weights(path, model)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    # Another family through the builder's `weights=` argument.
    with pytest.raises(ValueError, match="do not match the model architecture"):
        zoo.densenet121(weights=path, input_shape=(64, 64, 3), classes=7)


def test_keras3_weights_file_from_another_architecture_is_a_value_error(tmp_path):
    small = zoo.resnet8(classes=10)
    path = str(tmp_path / "r8.weights.h5")
    small.save_weights(path)
    with pytest.raises(ValueError, match="different architecture"):
        zoo.resnet20(weights=path, classes=10)


def test_imagenet_weights_need_1000_classes_and_v1_stride():
    with pytest.raises(ValueError, match="classes"):
        zoo.resnet50(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="stride_in_1x1"):
        zoo.resnet50(weights="imagenet", stride_in_1x1=False)


def test_nasnet_imagenet_weights_are_fetched_with_the_pinned_hash(tmp_path, monkeypatch):
    """`weights="imagenet"` asks keras.utils.get_file for keras.applications' NASNet file and hash
    (offline: the file here is a live NASNetMobile saved in the same legacy layout)."""
    kapp = keras.applications.NASNetMobile(weights=None)
    _randomize(kapp)
    path = str(tmp_path / "NASNet-mobile.h5")
    kapp.save(path)
    calls = []
    monkeypatch.setattr(keras.utils, "get_file", lambda fname, origin, **kw: calls.append((fname, origin, kw)) or path)
    ours = zoo.nasnet_mobile(weights="imagenet")
    assert calls[0][1] == "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/NASNet-mobile.h5"
    assert calls[0][2]["file_hash"] == "020fb642bf7360b370c678b08e0adf61"
    x = np.random.default_rng(4).uniform(-1, 1, size=(1, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=False)),
                               keras.ops.convert_to_numpy(kapp(x, training=False)), atol=1e-5, rtol=1e-5)


def test_nasnet_drop_path_trains_on_a_schedule_and_is_off_at_inference():
    from zoo.nasnet import DropPath, ScheduledDropPath

    paths = [l for l in zoo.nasnet_tiny(classes=3)._flatten_layers() if isinstance(l, DropPath)]
    assert paths and max(l.depth for l in paths) == 1.0 and min(l.depth for l in paths) > 0  # deeper, more
    inputs = keras.Input((4,))
    h = keras.layers.Dense(8)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(DropPath(0.4, 0.5)(h) + h))
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    a, b = model(x, training=False), model(x, training=False)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, np.arange(8) % 3, epochs=2, batch_size=4, verbose=0, callbacks=[ScheduledDropPath(total_steps=3)])
    progress = [float(keras.ops.convert_to_numpy(l.progress)) for l in model.layers if isinstance(l, DropPath)]
    assert progress == [1.0]  # 4 steps >= 3
    layer = DropPath(rate=0.5, depth=1.0)
    layer.build((None, 4))
    layer.progress.assign(1.0)
    y = keras.ops.convert_to_numpy(layer(np.ones((1000, 4), "float32"), training=True))
    assert set(np.unique(y)) == {0.0, 2.0} and abs((y[:, 0] == 0).mean() - 0.5) < 0.06  # whole paths, rescaled


def test_a_keras2_h5_path_builds_the_v1_graph_its_weights_were_trained_in(tmp_path):
    # keras.applications' files are written by Keras 2; a path to one (instead of weights="imagenet") must
    # not load v1 weights into the v1.5 graph (features ~5% off, without a word).
    import h5py

    kapp = _kapp_small("resnet50", include_top=True)
    path = str(tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5")
    kapp.save(path)
    with h5py.File(path, "r+") as f:
        f.attrs["keras_version"] = b"2.2.4"  # as keras.applications' downloads carry
    assert zw.written_by_keras2(path)
    ours = zoo.resnet50(weights=path, input_shape=(64, 64, 3), classes=7)  # no stride_in_1x1 given
    x = np.random.default_rng(3).normal(size=(2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours(x, training=False)),
                               keras.ops.convert_to_numpy(kapp(x, training=False)), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"stride in the first 1x1.*stride_in_1x1=False"):
        zoo.resnet50(weights=path, input_shape=(64, 64, 3), classes=7, stride_in_1x1=False)
