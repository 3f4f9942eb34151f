import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import zoo  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
# JAX subprocess tests compile many small programs once each: XLA's backend optimizations cost more
# than they save there (half the compile time of the tiny models, measured on this 2-core machine).
FAST_XLA = "--xla_backend_optimization_level=0"


def small_kwargs(name):
    """Builder overrides that keep a registered model's depth but shrink its
    inputs and head, so every architecture can be exercised in seconds."""
    spec = zoo.get_spec(name)
    if spec.task in ("tabular_classification", "regression"):
        return {"input_shape": (6,), "classes": 3}
    if spec.task == "image_classification":
        if spec.family == "mlp":
            return {"classes": 3}
        return {"input_shape": (32, 32, 3), "classes": 3}
    if spec.task == "text_classification":
        return {"classes": 3}
    if spec.task == "forecasting":
        return {"horizon": 3}
    return {"source_vocab_size": 7, "target_vocab_size": 7}  # seq2seq


def expected_output_shape(name, batch, length=12):
    """The output shape `small_kwargs(name)` asks for, independent of the built model."""
    task = zoo.get_spec(name).task
    if task in ("image_classification", "text_classification", "tabular_classification", "regression"):
        return (batch, small_kwargs(name)["classes"])
    if task == "forecasting":
        return (batch, small_kwargs(name)["horizon"], 1)
    return (batch, length, small_kwargs(name)["target_vocab_size"])


def example_inputs(model, batch=2, seed=0, length=12):
    """Random inputs that fit `model`: token ids with right padding for int
    inputs (0 = padding), normal floats otherwise."""
    rng = np.random.default_rng(seed)
    out = {}
    for tensor in model.inputs:
        shape = [batch] + [length if d is None else d for d in tensor.shape[1:]]
        if "int" in str(tensor.dtype):
            vocab = _vocab_for(model, tensor.name)
            tokens = rng.integers(1, vocab, size=shape).astype("int32")
            tokens[:, -2:] = 0  # right padding
            out[tensor.name] = tokens
        else:
            out[tensor.name] = rng.normal(size=shape).astype("float32")
    if len(out) == 1:
        return next(iter(out.values()))
    return out


def _vocab_for(model, input_name):
    for layer in model.layers:
        if layer.__class__.__name__ == "Embedding":
            return layer.input_dim
        vocab = getattr(layer, "vocab_size", None)
        if vocab is not None:
            return vocab
    raise AssertionError(f"no embedding found for {input_name}")


def is_classifier(model):
    """A classifier's head outputs one distribution per example (read from its recorded task)."""
    return zoo.tasks.task_of(model).kind == "classification"


def example_targets(model, outputs, seed=1):
    return zoo.tasks.task_of(model).random_targets(np.random.default_rng(seed), tuple(outputs.shape))


def keras_loss(model):
    """The Keras loss of the model's task (from logits when its head has no softmax)."""
    task = zoo.tasks.task_of(model)
    return task.keras_loss(bool(task.metric) and zoo.tasks.from_logits(model))


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def zoo_cli(capsys):
    """`zoo ARGS` in this process (a subprocess per command would pay TensorFlow's import each time):
    an object with returncode, stdout and stderr like `subprocess.run`'s."""
    from types import SimpleNamespace

    from zoo import cli

    def run(*argv):
        capsys.readouterr()
        try:
            code = cli.main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


# The longest tests (measured: 30-190 s each on 2 cores) start first, so the two xdist workers do not
# end with one of them running a long test alone.
SLOW_FIRST = ("test_notebook_executes", "on_jax", "jax", "test_an_imdb_run", "parameter_server", "killed_run",
              "multi_worker", "nasnet_tiny", "test_a_text_run", "test_a_tricky", "test_a_run_saved_before")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: not any(key in item.nodeid for key in SLOW_FIRST))
