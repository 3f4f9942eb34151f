"""The zoo's own trained weights, shipped inside the package.

Each weight set is one folder `zoo/pretrained_weights/MODEL-WEIGHTS/`, its one registration point:

- `weights.npz`: every variable of the model by its Keras path, stored in float16 where the test
  metric of the float16-stored weights measured equal to float32's (the card says which);
- `card.json`: the builder arguments, the data (name, splits, class names, preprocessing), the
  recipe (the `zoo train` command and its config), the measured test metrics of the Keras model
  and of every exported file, the date and machine, and the SHA-256 of every file, checked at load;
- `MODEL_CARD.md`: the same for people;
- `vocabulary.txt` (text models): the vectorizer's vocabulary, so the model takes raw strings.

The builders (`zoo.mlp(weights="mnist")`), `zoo list`/`zoo info`, `zoo predict MODEL:WEIGHTS` and
`zoo export MODEL --weights WEIGHTS` all read this module. `benchmarks/pretrained.py` trains a
weight set with its recipe, measures it and writes its folder.

Example:

```python
import numpy as np
import zoo

zoo.pretrained.available()                    # {'lstm_classifier': ['imdb'], 'mlp': ['mnist'], ...}
digits = zoo.mlp(weights="mnist")             # (batch, 784) floats in [0, 1] -> 10 probabilities
digits.predict(np.zeros((1, 784), "float32"), verbose=0).shape   # (1, 10)
reviews = zoo.lstm_classifier(weights="imdb")  # raw strings in: its vocabulary is inside
reviews.predict(np.array(["A moving, beautifully acted film."]), verbose=0)  # [[p(neg), p(pos)]]
```
"""

import hashlib
import json
import os
import shutil

WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained_weights")
CARD_JSON, WEIGHTS_FILE, VOCABULARY, CARD_MD = "card.json", "weights.npz", "vocabulary.txt", "MODEL_CARD.md"


def _folder(model_name, weights):
    return os.path.join(WEIGHTS_DIR, f"{model_name}-{weights}")


def available():
    """`{model name: [weight names]}` of every shipped weight set (folder names only: no Keras import)."""
    out = {}
    if os.path.isdir(WEIGHTS_DIR):
        for entry in sorted(os.listdir(WEIGHTS_DIR)):
            if "." not in entry and os.path.isfile(os.path.join(WEIGHTS_DIR, entry, CARD_JSON)):  # not .tmp/.old
                model_name, _, weights = entry.rpartition("-")
                out.setdefault(model_name, []).append(weights)
    return out


def names(model_name):
    """The shipped weight names of one model, e.g. `("cifar10",)`."""
    return tuple(available().get(model_name, ()))


def card(model_name, weights):
    """The `card.json` of a shipped weight set (raises `ValueError` naming the shipped sets if none)."""
    path = os.path.join(_folder(model_name, weights), CARD_JSON)
    if not isinstance(weights, str) or not os.path.isfile(path):
        shipped = names(model_name)
        allowed = ", ".join(["None", *[repr(n) for n in shipped], "a path to a weights file"])
        raise ValueError(f"`weights` is neither a weight set the zoo ships for {model_name!r} nor an existing file. "
                         f"Allowed: {allowed} (`zoo list --weights` shows every shipped set). Received: "
                         f"weights={weights!r}")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checked_file(model_name, weights, name, folder=None):
    """The path of one file of a weight set, after checking it against the SHA-256 its card records."""
    folder = folder or _folder(model_name, weights)
    with open(os.path.join(folder, CARD_JSON), encoding="utf-8") as f:
        expected = json.load(f)["files"][name]["sha256"]
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise ValueError(f"{path!r} is missing: this zoo install is incomplete. Reinstall it "
                         "(`pip install --force-reinstall keras-zoo`, or `git checkout` in a clone).")
    if sha256(path) != expected:
        raise ValueError(f"{path!r} does not match the SHA-256 its card records ({expected[:12]}...): the file was "
                         "damaged or changed after it shipped. Reinstall the zoo (`pip install --force-reinstall "
                         "keras-zoo`, or `git checkout` in a clone).")
    return path


# --------------------------------------------------------------------------
# Loading


def _plain(value):
    """JSON's view of a value (tuples as lists), so builder arguments compare as the card stores them."""
    return json.loads(json.dumps(value))


def builder_kwargs(model_name, weights, overrides):
    """The builder arguments the weights were trained with, merged with the caller's `overrides`; an
    override that contradicts them (another `classes`, `vocab_size`, input shape...) raises."""
    trained = card(model_name, weights)["builder"]
    feature_extractor = overrides.get("include_top") is False
    for key, value in trained.items():
        if key in overrides and _plain(overrides[key]) != _plain(value):
            if feature_extractor and key in ("classes", "classifier_activation"):
                continue
            raise ValueError(f"The {weights!r} weights of {model_name} were trained with {key}={value!r}: build "
                             f"the model with that value (or leave `{key}` out), or with `weights=None` to train "
                             f"another. Received: {key}={overrides[key]!r}")
    kwargs = {**{k: v for k, v in trained.items() if not (feature_extractor and k == "classes")}, **overrides}
    kwargs["weights"] = None
    return kwargs


def assign(model, path, *, partial=False):
    """Set every variable of `model` from a `weights.npz` (arrays by variable path), cast to the variable's
    dtype. All are checked before any is written: a failed load leaves the model as it was. `partial`: the
    file may hold more variables than the model (a model built without its top)."""
    import numpy as np

    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    variables = {v.path: v for v in model.weights}
    missing = [p for p in variables if p not in arrays]
    extra = [p for p in arrays if p not in variables]
    shapes = [f"{p}: {arrays[p].shape} -> {tuple(v.shape)}" for p, v in variables.items()
              if p in arrays and tuple(arrays[p].shape) != tuple(v.shape)]
    if missing or shapes or (extra and not partial):
        raise ValueError(f"{path!r} does not fit model {model.name!r} ({len(missing)} variables missing from the "
                         f"file, {len(extra)} not in the model, {len(shapes)} of other shapes; first: "
                         f"{(missing + extra + shapes)[:4]}). Build the model with the arguments of the weights' card.")
    for p, variable in variables.items():
        variable.assign(arrays[p].astype(variable.dtype))
    return model


def vectorizer(model_name, weights):
    """The `TextVectorization` a text weight set was trained with (its `vocabulary.txt`, its preprocessing)."""
    from pipelines.text import vectorizer_from_vocabulary

    info = card(model_name, weights)
    if VOCABULARY not in info["files"]:
        raise ValueError(f"The {weights!r} weights of {model_name} are not a text model's: they have no vocabulary.")
    with open(checked_file(model_name, weights, VOCABULARY), encoding="utf-8") as f:
        return vectorizer_from_vocabulary(f.read().split("\n"), info["preprocessing"])


def strings_model(token_model, text_vectorizer, preprocessing, name):
    """`(batch,)` raw strings -> token ids as in training -> `token_model`: a text model that takes what a
    user has."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError("A model that takes raw strings runs its TextVectorization on the TensorFlow backend only "
                         f"(this is {keras.backend.backend()!r}). Load the token-id model with "
                         "`zoo.pretrained.load(model, weights, strings=False)` and map texts to ids with "
                         "`zoo.pretrained.vectorizer(model, weights)` in a tf.data pipeline.")
    from pipelines.text import TextToIds

    texts = keras.Input(shape=(), dtype="string", name="text")  # (batch,)
    ids = TextToIds(text_vectorizer, preprocessing["sequence_length"], preprocessing.get("truncate", "post"),
                   name="text_to_ids")(texts)  # (batch, sequence_length): 0 = padding, 1 = out of vocabulary
    return keras.Model(texts, token_model(ids), name=name)


def build(model_name, builder, weights, args=(), overrides=None, *, strings=True):
    """`builder(*args, **overrides)` with the shipped weight set `weights` (what the registered builders do
    for `weights=NAME`); a text model takes raw strings unless `strings=False`."""
    info = card(model_name, weights)
    kwargs = builder_kwargs(model_name, weights, overrides or {})
    model = builder(*args, **kwargs)
    assign(model, checked_file(model_name, weights, WEIGHTS_FILE), partial=kwargs.get("include_top") is False)
    if strings and VOCABULARY in info["files"] and kwargs.get("include_top", True):
        return strings_model(model, vectorizer(model_name, weights), info["preprocessing"], f"{model.name}_{weights}")
    return model


def load(model_name, weights, *, strings=True, **overrides):
    """The registered model `model_name` with its shipped weights `weights`.

    Args:
        model_name: a registered name with shipped weights (`zoo.pretrained.available()`).
        weights: the weight set, e.g. `"mnist"`, `"cifar10"`, `"imdb"`.
        strings: text models only: `True` (default) for a model that takes raw strings (its vocabulary
            inside; TensorFlow backend), `False` for the token-id model the builder makes.
        **overrides: builder arguments that do not change the weights (`name`, `dropout`,
            `include_top=False`...).
    """
    return build(model_name, _plain_builder(model_name), weights, (), overrides, strings=strings)


# `zoo.registry` (which imports this module) sets this to its lookup of a registered name's builder as
# written; a callback, so that this module never imports the registry that imports it.
_plain_builder = None


def set_builder_lookup(lookup):
    """`lookup(model_name) -> builder function` (the registry's)."""
    global _plain_builder
    _plain_builder = lookup


def data_info(model_name, weights):
    """What a run folder's `data.json` says of its data, from the card (for `zoo export MODEL --weights` and
    `zoo predict MODEL:WEIGHTS`), with `"vectorizer"` for text models."""
    info = card(model_name, weights)
    out = {"name": info["data"]["name"], "task": info["task"], "labels": info.get("labels"),
           "preprocessing": info.get("preprocessing") or {}, "sizes": info["data"].get("sizes")}
    if VOCABULARY in info["files"]:
        out["vectorizer"] = vectorizer(model_name, weights)
    return out


def parse_source(source):
    """`(model, weights)` for a `MODEL:WEIGHTS` string naming a shipped weight set, else None."""
    if not isinstance(source, str) or source.count(":") != 1 or os.path.exists(source):
        return None
    model_name, weights = source.split(":")
    return (model_name, weights) if weights in names(model_name) else None


# --------------------------------------------------------------------------
# Writing a weight set (benchmarks/pretrained.py)


def _size(n):
    return "" if n is None else f"{n / 1e6:.2f} MB" if n >= 1e5 else f"{n / 1e3:.1f} KB"


def _ms(row):
    return "" if row.get("latency_ms_batch1") is None else f"{row['latency_ms_batch1']:.3f}"


def card_markdown(info):
    """`MODEL_CARD.md` of a weight set, from its `card.json`."""
    name = f"{info['model']}:{info['weights']}"
    metrics = info["metrics"]
    lines = [f"# `{name}` — the zoo's {info['model']} trained on {info['data']['name']}", "",
             f"`zoo.{info['model']}(weights=\"{info['weights']}\")`, `zoo predict {name} INPUT...`, "
             f"`zoo export {info['model']} --weights {info['weights']}`.", "",
             "## Data", "", f"- {info['data']['description']}",
             f"- Splits: {', '.join(f'{k} {v:,}' for k, v in info['data']['sizes'].items())}"]
    if info.get("labels"):
        lines.append(f"- Classes ({len(info['labels'])}): {', '.join(info['labels'])}")
    lines.append(f"- Preprocessing: `{json.dumps(info.get('preprocessing') or {})}`")
    lines += ["", "## Recipe", "", "```bash", info["recipe"]["command"], "```", "",
              f"{info['recipe']['epochs_run']} epochs, {info['recipe']['train_minutes']:.1f} min of training on "
              f"{info['recipe']['hardware']}. Builder arguments: `{json.dumps(info['builder'])}`.", "",
              "## Measured", "", f"On the {metrics['examples']:,} examples of the {metrics['split']} split, with the "
              f"shipped weights (stored as {info['storage']['dtype']}: {info['storage']['note']}):", "",
              f"| file | {metrics['metric']} | size | batch-1 ms | made |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {row['file']} | {row['value']:.4f} | {_size(row.get('bytes'))} | {_ms(row)} | {row.get('note', '')} |"
              for row in metrics["rows"]]
    if metrics.get("baselines"):
        lines += ["", "The naive forecasts on the same windows: " + ", ".join(
            f"{name.replace('_', ' ')} {value:.4f}" for name, value in metrics["baselines"].items()) + "."]
    if metrics.get("reference"):
        lines += ["", f"Reference: {metrics['reference']}."]
    lines += ["", "## Files", "", "| file | bytes | SHA-256 |", "| --- | --- | --- |"]
    lines += [f"| `{n}` | {f['bytes']:,} | `{f['sha256']}` |" for n, f in sorted(info["files"].items())]
    lines += ["", f"Made {info['date']} on {info['machine']} with zoo {info['zoo_version']}; "
              f"the files are checked against these checksums whenever they load.", ""]
    return "\n".join(lines)


def save(folder, model, info, *, dtype="float32", vocabulary=None):
    """Write a weight set into `folder` (replacing it only once complete): `weights.npz` in `dtype`, the
    vocabulary, `card.json` (`info` plus every file's size and SHA-256) and `MODEL_CARD.md`."""
    import numpy as np

    tmp = folder.rstrip(os.sep) + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    arrays = {v.path: np.asarray(v.numpy() if hasattr(v, "numpy") else v.value) for v in model.weights}
    np.savez(os.path.join(tmp, WEIGHTS_FILE), **{p: a.astype(dtype) if a.dtype.kind == "f" else a
                                                  for p, a in arrays.items()})
    if vocabulary is not None:
        with open(os.path.join(tmp, VOCABULARY), "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(str(t) for t in vocabulary))
    info = {**info, "files": {n: {"bytes": os.path.getsize(os.path.join(tmp, n)), "sha256": sha256(os.path.join(tmp, n))}
                              for n in sorted(os.listdir(tmp))}}
    with open(os.path.join(tmp, CARD_JSON), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    if "metrics" in info:
        with open(os.path.join(tmp, CARD_MD), "w", encoding="utf-8") as f:
            f.write(card_markdown(info))
    old = folder.rstrip(os.sep) + ".old"
    shutil.rmtree(old, ignore_errors=True)
    if os.path.exists(folder):
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)
    return info
