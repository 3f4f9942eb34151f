"""The registry's metadata, the committed catalog and the CLI that reads it."""

import inspect
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import zoo
from conftest import REPO, example_inputs
from test_models import REPEATED
from zoo import registry


@pytest.fixture(scope="module")
def catalog():
    return registry.read_catalog()


def test_the_catalog_lists_every_registered_model(catalog):
    assert sorted(catalog) == zoo.list_models()


@pytest.mark.parametrize("name", zoo.list_models())
def test_registry_metadata_and_catalog_match_the_built_model(name, catalog):
    """Input shape/dtype, task, pretrained names and parameter count as declared;
    `python -m zoo.registry` rewrites the catalog after a change. The deeper and wider variants
    (test_models' DEPTH_VARIANTS) also run forward here, at full size, on the model built once."""
    spec = zoo.get_spec(name)
    model = zoo.create_model(name, weights=None)
    if name in REPEATED and name != "nasnet_large":  # its cells run at full size in nasnet_mobile, 331px costs ~10 s
        x = example_inputs(model, batch=1)
        y = keras.ops.convert_to_numpy(model(x, training=False))
        assert y.shape == (1,) + tuple(model.output_shape[1:]) and np.isfinite(y).all()
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)  # all image classifiers: softmax rows
    assert model.task == spec.task
    shapes = spec.input_shape if isinstance(spec.input_shape, dict) else {None: spec.input_shape}
    inputs = {t.name: t for t in model.inputs} if isinstance(spec.input_shape, dict) else {None: model.inputs[0]}
    assert set(shapes) == set(inputs)
    for key, shape in shapes.items():
        assert tuple(inputs[key].shape[1:]) == tuple(shape), key
        assert str(inputs[key].dtype) == spec.input_dtype
    assert set(spec.pretrained) <= {"imagenet"}
    expected = json.loads(json.dumps({**spec.info(), "params": int(model.count_params())}))
    assert catalog[name] == expected, "run `python -m zoo.registry` to rewrite zoo/catalog.json"


def _run(code, **env):
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})


def test_zoo_list_info_and_help_load_neither_keras_nor_tensorflow():
    proc = _run("import sys, contextlib, io\n"
                "from app import cli\n"
                "for argv in (['list'], ['list', 'resnet*', '--json'], ['info', 'resnet50']):\n"
                "    assert cli.main(argv) == 0\n"
                "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
                "print('LOADED', sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["name", "family", "task", "params", "input", "weights"]
    row = next(line for line in lines if line.startswith("resnet50 "))
    assert "25,636,712" in row and "image_classification" in row


def test_zoo_list_json_and_info_agree_with_the_registry():
    from app import cli

    proc = _run("from app import cli; cli.main(['list', '--task', 'forecasting', '--json'])")
    listed = json.loads(proc.stdout)
    assert [e["name"] for e in listed] == zoo.list_models(task="forecasting")
    assert cli.main(["info", "resnet5"]) == 2  # unknown name: an error with suggestions, not a traceback


def test_zoo_train_prints_no_tensorflow_log_lines(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "app.cli", "train", "mlp_tiny", "--epochs", "1", "--quiet",
                           "--out", str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_the_cli_choices_come_from_the_code():
    from app import cli, commands
    from pipelines import registry
    from zoo.config import OPTIMIZERS, TrainConfig

    # pipelines/sources.json (what the CLI reads without TensorFlow) is the registry's: run
    # `python -m pipelines.registry` after adding or changing a source.
    assert registry.read_catalog() == json.loads(json.dumps(registry.source_catalog()))
    parser = cli.build_parser()
    train = parser._subparsers._group_actions[0].choices["train"]
    actions = {a.dest: a for a in train._actions}
    assert tuple(actions["optimizer"].choices) == OPTIMIZERS
    for kind, source in registry.SOURCES.items():  # every declared option is a flag, and the loader's
        assert kind in actions["dataset"].help
        for name, declared in source.options.items():
            assert name in actions and name in inspect.signature(source.loader).parameters, (kind, name)
            assert actions[name].choices == declared["choices"] and declared["help"] in actions[name].help
    for name in registry.DATASETS:
        assert name in actions["dataset"].help
    # Unset recipe options come from the task's defaults, else TrainConfig's.
    assert actions["epochs"].default is None and actions["lr"].default is None
    args = parser.parse_args(["train", "mlp_tiny"])
    assert commands.train_config(args, "image_classification").epochs == TrainConfig().epochs
    forecast = commands.train_config(args, "forecasting")
    assert (forecast.epochs, forecast.early_stopping_patience) == (200, 20)
    assert commands.train_config(parser.parse_args(["train", "mlp_tiny", "--epochs", "3"]), "forecasting").epochs == 3


def test_every_registered_name_imports_from_zoo_in_a_fresh_process():
    """`from zoo import NAME` for every `zoo.list_models()` name (derived from the registry's catalog, no hand
    list), checked where no other test has imported the families first."""
    code = ("import json, zoo\n"
            "names = zoo.list_models()\n"
            "missing = [n for n in names if not callable(getattr(__import__('zoo', fromlist=[n]), n, None))]\n"
            "print(json.dumps({'names': len(names), 'missing': missing}))")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["missing"] == [] and out["names"] == len(zoo.list_models())


def test_load_model_is_the_first_call_in_a_fresh_process(tmp_path):
    """`zoo.load_model` before any builder ran: the task model, the tabular embedding and the forecaster's
    naive base resolve (in this test process they were registered long ago by other tests)."""
    paths = []
    for name, kwargs in (("mlp_regressor", {"input_shape": (5,), "numeric_features": 2, "target_mean": 10.0,
                                             "target_std": 2.0}),
                         ("lstm_forecaster_tiny", {"base": "seasonal", "season": 4}), ("resnet8", {"classes": 2})):
        path = str(tmp_path / f"{name}.keras")
        zoo.create_model(name, **kwargs).save(path)
        paths.append(path)
    code = ("import sys, zoo\n"
            "for path in sys.argv[1:]:\n"
            "    model = zoo.load_model(path)\n"
            "    print(model.name, model.task)")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", code, *paths], env=env, cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["mlp_regressor", "regression", "lstm_forecaster_tiny", "forecasting",
                                   "resnet8", "image_classification"]
    # keras.saving.load_model after `import zoo` (Keras imported later), a text model taking raw strings too
    strings = str(tmp_path / "sst2.keras")
    zoo.lstm_attention_classifier(weights="sst2").save(strings)
    code = ("import sys, zoo, keras, numpy as np\n"
            "for path in sys.argv[1:]:\n"
            "    print(keras.saving.load_model(path).name)\n"
            "print(keras.saving.load_model(sys.argv[-1]).predict(np.array(['a fine film'], dtype=object), "
            "verbose=0).shape)")
    proc = subprocess.run([sys.executable, "-c", code, *paths, strings], env=env, cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["mlp_regressor", "lstm_forecaster_tiny", "resnet8",
                                   "lstm_attention_classifier_sst2", "(1,", "2)"]


def test_every_zoo_module_imports_first_in_a_fresh_process():
    """`python -m zoo.registry` imports every zoo module in name order (zoo._common first, whose `import keras`
    runs the after-Keras hook mid-import): each must import, and the registry be complete after."""
    code = ("import importlib, pkgutil, zoo\n"
            "for m in pkgutil.iter_modules(zoo.__path__):\n"
            "    importlib.import_module('zoo.' + m.name)\n"
            "print(len(zoo.list_models()))")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) == len(zoo.list_models())
