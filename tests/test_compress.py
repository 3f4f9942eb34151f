"""Pruning, distillation and transfer learning on real data (digits)."""


import numpy as np
import pytest

import keras

import pipelines
import zoo
from export import export_model
from zoo.compress import Distiller, MagnitudePruning, PruningSchedule, gzipped_size, sparsity
from zoo.transfer import count_trainable, freeze_backbone, replace_head, two_phase_fine_tune


@pytest.fixture(scope="module")
def digits():
    data = pipelines.digits()

    def arrays(split):
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in data.batches(split, 256, training=False)])
        return np.concatenate(xs), np.concatenate(ys)

    return data, arrays("train"), arrays("test")


def _accuracy(model, x, y):
    return float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))


def test_pruning_reaches_the_target_sparsity_and_the_pruned_model_exports(digits, tmp_path):
    data, (xtr, ytr), (xte, yte) = digits
    keras.utils.set_random_seed(0)
    model = zoo.mlp_tiny(hidden_units=(128, 64))
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(xtr, ytr, epochs=15, batch_size=32, verbose=0)
    dense_acc = _accuracy(model, xte, yte)
    export_model(model, str(tmp_path / "dense"), formats=("tflite",), quantizations=("fp32",), verbose=False)

    steps = 10 * int(np.ceil(len(xtr) / 32))
    pruning = MagnitudePruning(PruningSchedule(target=0.8, begin_step=0, end_step=steps // 2, frequency=5))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(xtr, ytr, epochs=10, batch_size=32, callbacks=[pruning], verbose=0)
    achieved = sparsity(model)
    assert abs(achieved["overall"] - 0.8) < 0.01
    assert all(abs(v - 0.8) < 0.01 for k, v in achieved.items() if k != "overall")
    pruned_acc = _accuracy(model, xte, yte)
    assert pruned_acc > dense_acc - 0.05  # fine-tuning recovers most of the accuracy

    report = export_model(model, str(tmp_path / "pruned"), formats=("tflite", "onnx"),
                          quantizations=("fp32",), eval_data=(xte, yte), verbose=False)
    assert report["passed"]
    assert {r["file"]: r["accuracy"] for r in report["results"]}["tflite_fp32"] == pytest.approx(pruned_acc)
    dense_gz = gzipped_size(str(tmp_path / "dense" / "mlp_tiny.fp32.tflite"))
    pruned_gz = gzipped_size(str(tmp_path / "pruned" / "mlp_tiny.fp32.tflite"))
    assert pruned_gz < 0.5 * dense_gz  # zeros compress


def test_pruning_schedule_and_bad_values():
    schedule = PruningSchedule(target=0.9, initial=0.0, begin_step=10, end_step=110)
    assert schedule.sparsity_at(0) == 0.0 and schedule.sparsity_at(110) == pytest.approx(0.9)
    assert 0.0 < schedule.sparsity_at(40) < schedule.sparsity_at(80) < 0.9
    with pytest.raises(ValueError, match="target"):
        PruningSchedule(target=1.0)
    with pytest.raises(ValueError, match="end_step"):
        PruningSchedule(begin_step=5, end_step=5)


def test_distilled_student_beats_the_same_student_trained_alone(digits):
    """A small labeled task (100 digits): the student trained alone sees those
    100; the distilled student sees the same 100 labels plus the teacher's
    soft targets on the rest of the training images (label -1)."""
    data, (xtr, ytr), (xte, yte) = digits
    n = 100
    keras.utils.set_random_seed(0)
    teacher = zoo.mlp_tiny(hidden_units=(256, 256), dropout=0.3)
    teacher.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy")
    teacher.fit(xtr[:n], ytr[:n], epochs=60, batch_size=32, verbose=0)

    keras.utils.set_random_seed(1)
    alone = zoo.mlp_tiny(hidden_units=(32,), dropout=0.0)
    alone.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    repeats = int(np.ceil(len(xtr) / n))  # the same number of steps as the distilled run
    alone.fit(np.tile(xtr[:n], (repeats, 1, 1, 1)), np.tile(ytr[:n], repeats), epochs=25,
              batch_size=32, verbose=0)

    keras.utils.set_random_seed(1)
    student = zoo.mlp_tiny(hidden_units=(32,), dropout=0.0)
    labels = ytr.copy()
    labels[n:] = -1  # unlabeled transfer set
    distiller = Distiller(student, teacher, alpha=0.3, temperature=2.0)
    distiller.compile(keras.optimizers.Adam(3e-3))
    distiller.fit(xtr, labels, epochs=25, batch_size=32, verbose=0)
    alone_acc, student_acc = _accuracy(alone, xte, yte), _accuracy(student, xte, yte)
    assert student_acc > alone_acc + 0.01, (student_acc, alone_acc)
    assert student.count_params() < teacher.count_params() / 20


def test_distiller_loss_is_computed_from_logits():
    """Soft targets below float32's resolution still count: the loss equals
    the formula on logits, for a softmax student and its logits twin alike."""
    keras.utils.set_random_seed(0)
    teacher = zoo.mlp_tiny(hidden_units=(16,))
    head = teacher.get_layer("predictions")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 200.0, bias])  # a very confident teacher: most p < 1e-7
    student = zoo.mlp_tiny(hidden_units=(8,))
    twin = zoo.mlp_tiny(hidden_units=(8,), classifier_activation=None)
    twin.set_weights(student.get_weights())
    x = np.random.default_rng(0).random((6, *student.input_shape[1:]), dtype="float32")
    y = np.array([0, 1, 2, 3, -1, -1])

    def logits(model):
        body = keras.Model(model.inputs, model.get_layer("predictions").input)
        k, b = model.get_layer("predictions").get_weights()
        return keras.ops.convert_to_numpy(body(x)) @ k + b

    def log_softmax(z):
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    t, alpha = 4.0, 0.3
    zt, zs = logits(teacher), logits(student)
    assert (keras.ops.convert_to_numpy(teacher(x)) < 1e-7).mean() > 0.3
    pt = np.exp(log_softmax(zt / t))
    kl = (pt * (log_softmax(zt / t) - log_softmax(zs / t))).sum(-1).mean()
    hard = -log_softmax(zs)[np.arange(4), y[:4]].mean()
    expected = alpha * hard + (1 - alpha) * t * t * kl
    for model in (student, twin):
        distiller = Distiller(model, teacher, alpha=alpha, temperature=t)
        y_pred = distiller(x)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(y_pred)),
                                   keras.ops.convert_to_numpy(student(x)), atol=1e-6)
        loss = float(keras.ops.convert_to_numpy(distiller.compute_loss(x, y, y_pred)))
        assert loss == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="classifier_activation='softmax' or None"):
        Distiller(zoo.mlp_tiny(classifier_activation="sigmoid"), teacher)


def test_distiller_validates_its_arguments():
    with pytest.raises(ValueError, match="same classes"):
        Distiller(zoo.mlp_tiny(classes=3), zoo.mlp_tiny(classes=10))
    with pytest.raises(ValueError, match="temperature"):
        Distiller(zoo.mlp_tiny(), zoo.mlp_tiny(), temperature=0)


def test_transfer_learning_head_freeze_and_two_phase(digits):
    data, (xtr, ytr), _ = digits
    # Source task: a backbone trained on digits 0-4 only.
    keras.utils.set_random_seed(0)
    source = zoo.mlp_tiny(hidden_units=(64, 32), dropout=0.0, classes=5)
    source.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    keep = ytr < 5
    source.fit(xtr[keep], ytr[keep], epochs=15, batch_size=32, verbose=0)
    # Target task: all ten digits, with a new head.
    model = replace_head(source, classes=10, dropout=0.1)
    assert model.output_shape == (None, 10)
    assert model.get_layer("dense_0") is source.get_layer("dense_0")  # shared, not copied
    freeze_backbone(model)
    head = model.get_layer("predictions")
    assert count_trainable(model) == int(np.prod(head.kernel.shape)) + head.units
    with pytest.raises(ValueError, match="No layer named"):
        freeze_backbone(model, unfreeze_from="nope")
    first_layer = [w.copy() for w in model.get_layer("dense_0").get_weights()]
    second_layer = [w.copy() for w in model.get_layer("dense_1").get_weights()]
    first, second = two_phase_fine_tune(model, data, head_epochs=5, finetune_epochs=5,
                                        unfreeze_from="dense_1", head_lr=1e-2, finetune_lr=1e-3)
    # Features learned on 0-4 carry over to the unseen digits 5-9.
    assert first.evaluation["accuracy"] > 0.6
    assert second.evaluation["accuracy"] >= first.evaluation["accuracy"] - 0.02
    # Phase 2 unfroze from dense_1 on: dense_0 kept its weights, dense_1 moved.
    for a, b in zip(model.get_layer("dense_0").get_weights(), first_layer):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_layer("dense_1").get_weights(), second_layer))
    with pytest.raises(ValueError, match="classes"):
        replace_head(source, classes=0)
