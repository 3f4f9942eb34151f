"""Tasks are named once: training, export and the tests read a model's task, never its layer names."""

import json

import keras
import numpy as np
import pytest

import pipelines
import zoo
from export import export_model
from zoo import tasks
from zoo.train import TrainConfig, fit


@pytest.fixture(scope="module")
def digits():
    return pipelines.load_dataset("digits")


def _config(**kw):
    return TrainConfig(**{"epochs": 15, "batch_size": 32, "learning_rate": 3e-3, "verbose": 0, **kw})


def test_every_builder_records_its_task_and_it_survives_save_and_load(tmp_path):
    for name in zoo.list_models(tiny=True):
        model = zoo.create_model(name)
        assert model.task == zoo.get_spec(name).task, name
    model = zoo.resnet8(classes=3)
    model.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").task == "image_classification"
    assert zoo.resnet8(include_top=False, pooling="avg").task == "features"


def test_a_logits_classifier_trains_like_the_softmax_one_and_exports_logits(digits, tmp_path):
    softmax = fit(lambda: zoo.mlp_tiny(), digits, config=_config())
    logits = fit(lambda: zoo.mlp_tiny(classifier_activation=None), digits, config=_config())
    assert tasks.from_logits(logits.model) and not tasks.from_logits(softmax.model)
    # Cross-entropy on logits, not on logits read as probabilities: the same accuracy within noise.
    assert softmax.evaluation["accuracy"] > 0.9
    assert abs(logits.evaluation["accuracy"] - softmax.evaluation["accuracy"]) < 0.03
    x, y = next(iter(digits.batches("test", 64, training=False)))
    expected = keras.losses.sparse_categorical_crossentropy(y, logits.model(x), from_logits=True)
    assert float(np.mean(expected)) < 0.5  # it learned from logits: a probability reading would not
    report = export_model(logits.model, str(tmp_path), formats=("saved_model", "onnx"), verbose=False,
                          eval_data=(x.numpy(), y.numpy()))
    assert report["passed"]
    manifest = json.load(open(tmp_path / "zoo_export.json"))
    assert manifest["outputs"] == ["logits", "class_ids"] and manifest["output"] == "logits"
    assert manifest["files"]["saved_model"]["signatures"]["serving_default"]["outputs"] == ["class_ids", "logits"]
    import onnx

    assert [o.name for o in onnx.load(str(tmp_path / "mlp_tiny.onnx")).graph.output] == ["logits", "class_ids"]


def test_a_plain_keras_classifier_with_another_head_name_trains_with_cross_entropy(digits):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(32, activation="relu")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs)
    result = fit(model, digits, config=_config(), task="image_classification")
    assert result.evaluation["accuracy"] > 0.9
    x, y = next(iter(digits.batches("test", 400, training=False)))
    ce = float(np.mean(keras.losses.sparse_categorical_crossentropy(y, model(x))))
    assert result.evaluation["loss"] == pytest.approx(ce, rel=1e-3)  # the loss fit reports is cross-entropy


def test_a_wrong_or_missing_task_is_refused_with_the_fix(digits):
    with pytest.raises(ValueError, match="built for task 'image_classification'.*task='image_classification'"):
        fit(zoo.mlp_tiny(), digits, config=_config(epochs=1), task="forecasting")
    inputs = keras.Input((8, 8, 1))
    plain = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="does not record its task.*Pass task="):
        fit(plain, digits, config=_config(epochs=1))
    with pytest.raises(ValueError, match="Unknown task.*Received: task='classify'"):
        fit(plain, digits, config=_config(epochs=1), task="classify")
    steps = keras.Model(inputs, keras.layers.Reshape((2, 5))(keras.layers.Flatten()(inputs)[:, :10]))
    with pytest.raises(ValueError, match="needs one output of shape \\(batch, classes\\)"):
        fit(steps, digits, config=_config(epochs=1), task="image_classification")
    sigmoid = keras.Model(inputs, keras.layers.Dense(10, activation="sigmoid")(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="classifier_activation='softmax' or None"):
        fit(sigmoid, digits, config=_config(epochs=1), task="image_classification")
    with pytest.raises(ValueError, match="no training loss"):
        fit(zoo.mlp_tiny(include_top=False), digits, config=_config(epochs=1))


def test_keras_callbacks_and_the_distiller_run_under_fit(digits, tmp_path):
    from zoo.compress import Distiller, MagnitudePruning, PruningSchedule, sparsity

    seen = []
    log = keras.callbacks.LambdaCallback(on_train_begin=lambda logs: seen.append("begin"),
                                         on_epoch_end=lambda epoch, logs: seen.append(epoch))
    pruning = MagnitudePruning(PruningSchedule(target=0.8, begin_step=0, end_step=60, frequency=5), min_size=64)
    result = fit(lambda: zoo.mlp_tiny(hidden_units=(64,)), digits, config=_config(epochs=4),
                 callbacks=[pruning, log, keras.callbacks.CSVLogger(str(tmp_path / "log.csv"))])
    assert seen == ["begin", 0, 1, 2, 3]
    assert sparsity(result.model, min_size=64)["overall"] == pytest.approx(0.8, abs=0.01)
    assert len(open(tmp_path / "log.csv").read().splitlines()) == 5
    teacher = fit(lambda: zoo.mlp_tiny(hidden_units=(128,)), digits, config=_config()).model
    student = zoo.mlp_tiny(hidden_units=(16,))
    distilled = fit(Distiller(student, teacher, alpha=0.5, temperature=2.0), digits, config=_config())
    assert distilled.evaluation["accuracy"] > 0.85
    x, y = next(iter(digits.batches("test", 400, training=False)))
    assert np.mean(np.argmax(student(x), -1) == y.numpy()) > 0.85  # the student itself learned
