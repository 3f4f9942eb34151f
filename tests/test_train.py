"""Training: the recipe, strategies, multi-worker, kill-and-resume, the CLI."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf
import pytest

import keras

import pipelines
import zoo
from conftest import REPO
from app import cli
from zoo.train import TrainConfig, TrainingDivergedError, fit

SCRIPT = os.path.join(REPO, "tests", "_train_script.py")


def _env(**extra):
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, **extra)


def _final_weights(run_dir):
    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    return model.get_weights()


def test_fit_learns_digits_and_writes_the_run_folder(tmp_path, capsys):
    out = str(tmp_path / "run")
    result = fit(lambda: zoo.mlp_tiny(), pipelines.digits(),
                 config=TrainConfig(epochs=4, batch_size=32, learning_rate=3e-3, out_dir=out,
                                    early_stopping_patience=3, label_smoothing=0.1, clipnorm=1.0,
                                    warmup_epochs=1))
    assert result.evaluation["split"] == "test" and result.evaluation["accuracy"] > 0.8
    assert result.history["loss"][-1] < result.history["loss"][0]
    printed = capsys.readouterr().out
    assert "Final evaluation on test (355 examples)" in printed
    for name in ("model.keras", "config.json", "history.json", "data.json", "backup/state.npz"):
        assert os.path.exists(os.path.join(out, name)), name
    assert sorted(os.listdir(os.path.join(out, "checkpoints"))) == [
        "epoch_002.weights.h5", "epoch_003.weights.h5", "epoch_004.weights.h5"]
    assert os.listdir(os.path.join(out, "logs", "train"))  # TensorBoard event files
    reloaded = keras.saving.load_model(os.path.join(out, "model.keras"))
    for a, b in zip(reloaded.get_weights(), result.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # The same folder again: a finished run says so (issue 13: it used to "resume" past its end),
    # and another config is refused rather than resumed.
    config = dict(epochs=4, batch_size=32, learning_rate=3e-3, out_dir=out, early_stopping_patience=3,
                  label_smoothing=0.1, clipnorm=1.0, warmup_epochs=1, verbose=0)
    with pytest.raises(ValueError, match="is finished: all 4 epochs trained"):
        fit(lambda: zoo.mlp_tiny(), pipelines.digits(), config=TrainConfig(**config))
    with pytest.raises(ValueError, match="label_smoothing=0.1 \\(now 0.0\\).*--restart"):
        fit(lambda: zoo.mlp_tiny(), pipelines.digits(), config=TrainConfig(**{**config, "label_smoothing": 0.0}))


def test_early_stopping_restores_the_best_weights_without_an_out_dir():
    model = zoo.mlp_tiny()
    snapshot = {}

    def spoil_after_first_epoch(epoch, logs):
        if epoch == 0:  # the best epoch: remember it, then wreck the weights
            snapshot["best"] = model.get_weights()
            rng = np.random.default_rng(0)
            model.set_weights([rng.normal(0, 3, w.shape).astype(w.dtype) for w in snapshot["best"]])

    result = fit(model, pipelines.digits(), callbacks=[spoil_after_first_epoch],
                 config=TrainConfig(epochs=4, batch_size=32, learning_rate=1e-6, verbose=0,
                                    early_stopping_patience=1))
    assert len(result.history["loss"]) == 2  # epoch 2 was worse: stopped there
    assert result.history["val_loss"][1] > result.history["val_loss"][0]
    for restored, best in zip(result.model.get_weights(), snapshot["best"]):
        np.testing.assert_array_equal(restored, best)


def test_warmup_cosine_schedule_and_optimizers():
    config = TrainConfig(epochs=10, learning_rate=0.1, warmup_epochs=2, optimizer="sgd")
    schedule = zoo.train.learning_rate_schedule(config, steps_per_epoch=10)
    lrs = [float(schedule(s)) for s in (0, 10, 20, 60, 99)]
    assert lrs[0] < lrs[1] < lrs[2] and abs(lrs[2] - 0.1) < 1e-6 and lrs[3] < lrs[2] and lrs[4] < 0.01
    step = zoo.train.learning_rate_schedule(
        TrainConfig(epochs=10, learning_rate=0.1, schedule="step", step_epochs=(5,)), 10)
    assert abs(float(step(49)) - 0.1) < 1e-6 and abs(float(step(51)) - 0.01) < 1e-6
    assert isinstance(zoo.train.make_optimizer(config, 10), keras.optimizers.SGD)


@pytest.mark.parametrize("field,value,message", [
    ("epochs", 0, "epochs"), ("optimizer", "lamb", "optimizer"), ("schedule", "linear", "schedule"),
    ("learning_rate", -1.0, "learning_rate"), ("label_smoothing", 1.0, "label_smoothing")])
def test_bad_config_values_are_rejected(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value}).validate()


def test_label_count_must_match_the_model_head():
    with pytest.raises(ValueError, match="has 10 classes but the model outputs 3.*classes=10"):
        fit(lambda: zoo.mlp_tiny(classes=3), pipelines.digits(), config=TrainConfig(epochs=1, verbose=0))


def test_nan_loss_stops_with_a_clear_error():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 12, 1)).astype("float32")
    y = rng.normal(size=(64, 2, 1)).astype("float32")
    y[5] = np.nan  # a corrupt target, in a dataset the source checks never saw (a DataSplits would refuse it)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    with pytest.raises(TrainingDivergedError, match="loss became nan.*learning_rate"):
        fit(lambda: zoo.lstm_forecaster_tiny(), data, config=TrainConfig(epochs=1, batch_size=16, verbose=0))


def _batch_statistics_accuracy(model, data):
    hits = n = 0
    for x, y in data.batches("test", 64, training=False):
        hits += int(np.sum(np.argmax(model(x, training=True), -1) == y.numpy()))
        n += len(y)
    return hits / n


def test_a_short_run_evaluates_with_batch_norm_statistics_of_its_data():
    """38 steps of a batch-norm ResNet on real scanned digits: the moving averages (momentum 0.99) still
    hold mostly their initial values, so without precise BN the saved model scores near chance while
    the same weights with batch statistics score ~0.95; with it (the default) both agree."""
    data = pipelines.digits()
    results = {}
    for examples in (0, TrainConfig().precise_bn_examples):
        result = fit(lambda: zoo.resnet8(input_shape=(8, 8, 1), classes=10), data,
                     config=TrainConfig(epochs=2, batch_size=64, precise_bn_examples=examples, verbose=0))
        results[examples] = (result.evaluation["accuracy"], _batch_statistics_accuracy(result.model, data))
    (stale, batch_stale), (precise, batch_precise) = results.values()
    assert batch_stale > 0.85 and stale < batch_stale - 0.3, results  # the problem this fixes
    assert batch_precise > 0.85 and abs(precise - batch_precise) < 0.04, results


def test_output_redirected_to_a_file_has_epoch_lines_and_no_bar(tmp_path):
    """A log file gets plain lines: no carriage-return redraws or escape codes of the progress bar."""
    proc = subprocess.run([sys.executable, "-m", "app.cli", "train", "mlp_tiny", "--epochs", "2", "--batch-size", "32",
                           "--out", str(tmp_path / "run")], env=_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Epoch 2/2" in proc.stdout and "val_loss" in proc.stdout
    assert "\r" not in proc.stdout and "\x1b" not in proc.stdout and "━" not in proc.stdout


def test_mirrored_over_two_cpus_matches_one_device():
    proc = subprocess.run([sys.executable, SCRIPT, "mirrored", "unused"], env=_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["replicas"] == 2
    np.testing.assert_allclose(out["loss_two"], out["loss_one"], rtol=1e-4)
    assert out["max_weight_diff"] < 1e-4
    assert "strategy.scope()" in out["outside_error"]


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_two_processes_end_with_identical_weights(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen([sys.executable, SCRIPT, "worker", str(tmp_path)], cwd=REPO,
                                      env=_env(TF_CONFIG=tf_config), stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    try:
        outs = [p.communicate(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (stdout, stderr) in zip(procs, outs):
        assert p.returncode == 0, stderr[-3000:]
    finals = [np.load(tmp_path / f"final_worker_{i}.npz") for i in range(2)]
    for key in finals[0].files:
        np.testing.assert_array_equal(finals[0][key], finals[1][key])
    assert os.path.exists(tmp_path / "model.keras")  # the chief saved the run
    losses = [json.loads(o[0].strip().splitlines()[-1])["loss"] for o in outs]
    assert losses[0] == losses[1] and losses[0][-1] < losses[0][0]


def _cli(*args):
    return [sys.executable, "-m", "app.cli", *args]


def test_parameter_server_cluster_trains_and_a_killed_chief_resumes(tmp_path):
    # A real cluster of processes on 127.0.0.1: 2 workers and 1 ps run the same
    # command as the chief and serve; the chief schedules the steps. The chief
    # is killed mid-run and restarted against the same servers.
    chief, w0, w1, ps = (f"127.0.0.1:{p}" for p in _free_ports(4))
    cluster = {"chief": [chief], "worker": [w0, w1], "ps": [ps]}

    def env(kind, index=0):
        return _env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}}))

    train = ["train", "mlp_tiny", "--dataset", "digits", "--strategy", "parameter_server",
             "--epochs", "8", "--lr", "0.01", "--batch-size", "32", "--backup-every", "7"]
    out = str(tmp_path / "run")
    servers = [subprocess.Popen(_cli(*train), env=env(kind, i), cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
               for kind, i in (("worker", 0), ("worker", 1), ("ps", 0))]
    first = None
    try:
        log = open(tmp_path / "first_chief.log", "w+")
        first = subprocess.Popen(_cli(*train, "--out", out), env=env("chief"), cwd=REPO,
                                 stdout=log, stderr=subprocess.STDOUT)
        state = os.path.join(out, "backup", "state.npz")
        deadline, meta = time.time() + 240, None
        while time.time() < deadline and first.poll() is None:
            if os.path.exists(state):
                with np.load(state) as f:
                    meta = json.loads(bytes(f["meta"]).decode())
                if meta["epoch"] >= 1:
                    break
            time.sleep(0.05)
        if first.poll() is not None:  # say how it ended (a crash, or a run faster than the polling)
            log.seek(0)
            raise AssertionError(f"the chief exited ({first.returncode}) before it could be killed:\n"
                                 + log.read()[-3000:])
        first.kill()
        first.wait()
        assert meta and not os.path.exists(os.path.join(out, "model.keras"))

        second = subprocess.run(_cli(*train, "--out", out), env=env("chief"), cwd=REPO,
                                capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
        assert "Resuming from" in second.stdout and "Final evaluation on test" in second.stdout
    finally:
        for proc in servers + ([first] if first else []):
            proc.kill()
    for proc in servers:
        assert "Serving as the parameter-server cluster's" in proc.communicate(timeout=30)[0]
    run = json.load(open(os.path.join(out, "history.json")))
    assert len(run["history"]["loss"]) == 8
    print("parameter-server run:", run["evaluation"])
    assert run["evaluation"]["accuracy"] > 0.85  # single-device: ~0.95 with this recipe
    model = keras.saving.load_model(os.path.join(out, "model.keras"))
    assert model.count_params() == zoo.mlp_tiny().count_params()


def test_parameter_server_strategy_errors_name_the_fix(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="'chief', 'worker' and 'ps' jobs"):
        pipelines.get_strategy("parameter_server")
    cluster = {"chief": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"], "ps": ["127.0.0.1:3"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match=r"serve_cluster_task\(\)"):
        pipelines.get_strategy("parameter_server")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}}))
    with pytest.raises(ValueError, match="runs a 'worker' or 'ps' task"):
        pipelines.serve_cluster_task()


def test_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path):
    reference = str(tmp_path / "reference")
    proc = subprocess.run([sys.executable, SCRIPT, "resumable", reference], env=_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    killed = str(tmp_path / "killed")
    state = os.path.join(killed, "backup", "state.npz")
    proc = subprocess.Popen([sys.executable, SCRIPT, "resumable", killed, "0.004"], env=_env(),
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    meta = None
    try:
        while time.time() < deadline and proc.poll() is None:
            if os.path.exists(state):
                with np.load(state) as f:
                    meta = json.loads(bytes(f["meta"]).decode())
                if meta["epoch"] >= 1 and meta["step"] > 0:  # inside the second epoch
                    break
            time.sleep(0.05)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert meta and meta["step"] > 0 and not os.path.exists(os.path.join(killed, "model.keras"))

    proc = subprocess.run([sys.executable, SCRIPT, "resumable", killed], env=_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for a, b in zip(_final_weights(killed), _final_weights(reference)):
        np.testing.assert_array_equal(a, b)
    history = json.load(open(os.path.join(killed, "history.json")))["history"]
    assert len(history["loss"]) == 3 and history["resumed_at_step"] == [meta["step"]]


def test_backup_from_another_model_is_refused(tmp_path):
    out = str(tmp_path / "run")
    fit(lambda: zoo.mlp_tiny(), pipelines.digits(), config=TrainConfig(epochs=1, out_dir=out, verbose=0))
    os.remove(os.path.join(out, "model.keras"))  # as if killed before its final save: resumable
    with pytest.raises(ValueError, match="started with another model"):
        fit(lambda: zoo.mlp_tiny(hidden_units=(16, 16)), pipelines.digits(),
            config=TrainConfig(epochs=1, out_dir=out, verbose=0))


def test_cli_train_on_digits(tmp_path, capsys):
    out = str(tmp_path / "cli")
    assert cli.main(["train", "mlp_tiny", "--dataset", "digits", "--epochs", "2", "--batch-size", "32",
                     "--out", out, "--model-arg", "hidden_units=[48]"]) == 0
    printed = capsys.readouterr().out
    assert "Final evaluation on test" in printed and os.path.exists(os.path.join(out, "model.keras"))
    assert keras.saving.load_model(os.path.join(out, "model.keras")).count_params() == 64 * 48 + 48 + 48 * 10 + 10


def test_cli_train_errors(capsys):
    assert cli.main(["train", "mlp_tiny", "--dataset", "cifar"]) == 2
    assert "Did you mean ['cifar10']" in capsys.readouterr().err
    assert cli.main(["train", "lstm_classifier_tiny", "--dataset", "digits"]) == 2
    assert "text_classification model" in capsys.readouterr().err


def test_bf16_is_on_by_default_only_where_it_is_native(tmp_path, monkeypatch):
    import argparse

    from app import cli, commands
    from zoo import config

    monkeypatch.setattr(config, "_has_gpu", lambda: False)
    intel = tmp_path / "xeon"
    intel.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile\n")
    amd = tmp_path / "epyc"
    amd.write_text("processor\t: 0\nflags\t\t: fpu sse2 fma avx avx2\n")
    assert config.bf16_hardware(str(intel)) == "CPU avx512_bf16+amx_bf16"
    assert config.bf16_hardware(str(amd)) is None and config.bf16_hardware(str(tmp_path / "none")) is None
    monkeypatch.setattr(config, "_has_gpu", lambda: True)
    assert config.bf16_hardware(str(amd)) == "GPU"
    # The command line: auto follows the hardware; either flag wins over it.
    for native, flag, expected in ((None, None, False), ("GPU", None, True), ("GPU", False, False),
                                   (None, True, True)):
        monkeypatch.setattr(config, "bf16_hardware", lambda native=native: native)
        assert commands.mixed_precision(argparse.Namespace(mixed_precision=flag)) is expected
    parser = cli.build_parser()
    assert parser.parse_args(["train", "mlp", "--no-mixed-precision"]).mixed_precision is False
    assert parser.parse_args(["train", "mlp", "--mixed-precision"]).mixed_precision is True
    assert parser.parse_args(["train", "mlp"]).mixed_precision is None


def test_a_run_folder_is_locked_while_training_and_restart_only_clears_runs(tmp_path):
    """A second run into the same folder is refused (it would overwrite the first one's model); --restart
    refuses a folder the zoo did not write."""
    import fcntl

    from zoo.train import TrainConfig, fit

    data = pipelines.digits()
    out = tmp_path / "run"
    out.mkdir()
    with open(out / ".zoo-run.lock", "a+") as other:  # another process's run holds the folder
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(ValueError, match="Another training run is writing to .* holds the folder's lock"):
            fit(lambda: zoo.mlp_tiny(), data, config=TrainConfig(epochs=1, out_dir=str(out), verbose=0))
    result = fit(lambda: zoo.mlp_tiny(), data, config=TrainConfig(epochs=1, out_dir=str(out), verbose=0))
    assert result.history and (out / "model.keras").exists()  # the lock is released at the end of fit
    fit(lambda: zoo.mlp_tiny(), data, config=TrainConfig(epochs=1, out_dir=str(out), verbose=0), restart=True)
    mine = tmp_path / "mine"
    (mine / "logs").mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(ValueError, match="is not a zoo run folder .*'notes.txt'"):
        fit(lambda: zoo.mlp_tiny(), data, config=TrainConfig(epochs=1, out_dir=str(mine), verbose=0), restart=True)
    assert (mine / "logs").is_dir() and (mine / "notes.txt").read_text() == "my notes"


def test_bf16_is_the_default_only_where_a_probe_measured_it_faster(tmp_path, monkeypatch):
    from zoo import config as zoo_config
    from zoo import precision

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(zoo_config, "bf16_hardware", lambda: "CPU avx512_bf16")
    measured = precision.probe("mlp_tiny", {}, 32, steps=2)  # real compiled steps, both precisions
    assert measured["float32_ms"] > 0 and measured["bfloat16_ms"] > 0
    calls = []

    def fake(model_name, kwargs, batch_size, policy, steps=precision.STEPS):
        calls.append(policy)
        return {"float32": 1.0, "mixed_bfloat16": speed}[policy]

    monkeypatch.setattr(precision, "_step_seconds", fake)
    speed = 1.0  # bf16 as fast as float32: not worth its precision
    use, reason = precision.choose("resnet8", {"classes": 3}, 64, "image_classification")
    assert not use and "bf16 measured 1.00x float32's speed for resnet8 at batch 64" in reason
    assert calls and precision.choose("resnet8", {"classes": 3}, 64)[0] is False and len(calls) == 4  # cached
    speed = 0.5
    use, reason = precision.choose("resnet8", {"classes": 3}, 128, "image_classification")
    assert use and "mixed bfloat16 (measured 2.00x" in reason
    assert precision.choose("mlp_tabular", {}, 64, "tabular_classification")[0] is False
    monkeypatch.setattr(precision, "_versions", lambda: "tensorflow 9.9, keras 9.9")  # an upgrade: probed again
    before = len(calls)
    assert precision.choose("resnet8", {"classes": 3}, 128, "image_classification")[0] is True
    assert len(calls) == before + 4
    monkeypatch.setattr(zoo_config, "bf16_hardware", lambda: None)
    assert precision.choose("resnet8", {"classes": 3}, 128)[1].startswith("float32 (this CPU has no native bf16")
