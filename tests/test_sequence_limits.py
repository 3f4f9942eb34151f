"""Too-long sequences and out-of-vocabulary ids: one behaviour on TensorFlow, JAX and in exported files.

Policy (README, model docstrings): ids outside [0, vocab_size) read as the out-of-vocabulary id 1;
a sequence longer than a Transformer's max_length (its position table) raises ValueError naming it.
Recurrent models have no length limit.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from conftest import small_kwargs
from export import export_model
from export.common import max_length
from export.formats import runner

TEXT_MODELS = zoo.list_models(task="text_classification") + zoo.list_models(task="seq2seq")
# Recurrent models take any length; 64 steps (past every tiny model's training length) shows it
# without the seconds per hundred steps an eager recurrent loop costs.
RECURRENT_LENGTH = 64


def _vocab(model):
    return [l.input_dim for l in model._flatten_layers() if isinstance(l, keras.layers.Embedding)
            and "position" not in l.name][-1]


def _inputs(model, ids):
    return {t.name: ids for t in model.inputs} if len(model.inputs) > 1 else ids


def _out_of_range_case(model, rng, length=10):
    vocab = _vocab(model)
    ids = rng.integers(2, vocab, size=(2, length)).astype("int32")
    bad = ids.copy()
    bad[0, 1], bad[0, 3], bad[1, 2] = vocab, vocab + 1000, -3
    mapped = ids.copy()
    mapped[0, 1] = mapped[0, 3] = mapped[1, 2] = 1
    return bad, mapped


@pytest.mark.parametrize("name", TEXT_MODELS)
def test_tensorflow_maps_out_of_range_ids_and_refuses_too_long_input(name):
    model = zoo.create_model(name, **small_kwargs(name))
    bad, mapped = _out_of_range_case(model, np.random.default_rng(0))
    got = keras.ops.convert_to_numpy(model(_inputs(model, bad), training=False))
    want = keras.ops.convert_to_numpy(model(_inputs(model, mapped), training=False))
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=1e-6)
    limit = max_length(model)
    long_ids = np.ones((1, (limit or RECURRENT_LENGTH - 5) + 5), "int32")
    if limit is None:  # recurrent: any length
        assert np.isfinite(keras.ops.convert_to_numpy(model(long_ids, training=False))).all()
        return
    with pytest.raises(ValueError, match=f"{limit + 5} tokens; this model takes at most max_length={limit} "
                                         "\\(its sequence_length=.*truncate"):
        model(_inputs(model, long_ids), training=False)
    # A TF graph with a free length: the same message from a TF assertion when it runs.
    specs = [tf.TensorSpec([None, None], tf.int32, name=t.name) for t in model.inputs]
    fn = tf.function(lambda *a: model(dict(zip([t.name for t in model.inputs], a)) if len(a) > 1 else a[0]),
                     input_signature=specs)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"more tokens; this model takes at most max_length={limit}"):
        fn(*[tf.constant(long_ids)] * len(specs))


@pytest.mark.parametrize("name", ["transformer_tiny", "lstm_classifier_tiny"])
def test_exported_files_map_out_of_range_ids_like_keras(name, tmp_path):
    model = zoo.create_model(name)
    bad, mapped = _out_of_range_case(model, np.random.default_rng(1), length=16)
    export_model(model, str(tmp_path), quantizations=("fp32",), eval_data=mapped, verbose=False)
    manifest = json.load(open(tmp_path / "zoo_export.json"))
    want = keras.ops.convert_to_numpy(model(mapped, training=False))
    for key, entry in manifest["files"].items():
        run, _ = runner(entry, str(tmp_path))
        got = np.concatenate([run({"tokens": bad[i:i + 1]}) for i in range(len(bad))])
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=key)
