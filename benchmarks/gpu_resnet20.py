"""ResNet-20 on CIFAR-10 with the zoo's recipe on a GPU, through Keras 3's JAX backend (no TensorFlow there).

The 182-epoch recipe of `benchmarks/pretrained.py resnet20:cifar10` takes ~4 CPU hours on 2 cores; a GPU
machine (`device`, when a session is lent one) has JAX but no TensorFlow and a 64 MiB upload. So:

1. `pack` (here, with TensorFlow): the CIFAR-10 TFRecords' JPEG bytes and labels, compressed (~18 MB), with
   the SHA-256 of the pixels TensorFlow decodes from them.
2. `train` (there): decodes the JPEGs with libjpeg-turbo's fast integer DCT (`simplejpeg`, `fastdct=True`:
   TensorFlow's default, so the pixels are TensorFlow's; their SHA-256 is checked before any step), then runs
   the same recipe: the model from `zoo.create_model`, the optimizer and schedule from `zoo.optim` built from
   the same `TrainConfig` (`pretrained.SETS`), pad-4 reflect crop + flip as `pipelines.image.crop_and_flip`,
   float32 (matmuls and convolutions at full float32 precision, no TF32), then precise BN
   (`zoo.optim.precise_batch_norm`). Each epoch is one compiled `lax.scan` over its steps with the images
   on the GPU. Writes the weights, `history.json` and `trained_on.json`.
3. `import` (here): a `zoo train` run folder from those files (the test accuracy re-measured with
   TensorFlow), which `benchmarks/pretrained.py resnet20:cifar10 --run RUN` then scores, exports and ships.

usage:
  python benchmarks/gpu_resnet20.py pack [--data-dir ../shared/data/cifar10] [--out .gpu/cifar10.npz]
  python benchmarks/gpu_resnet20.py train --data .gpu/cifar10.npz --out DIR [--epochs N]
  python benchmarks/gpu_resnet20.py import DIR --run RUN [--data-dir ../shared/data/cifar10]
  python benchmarks/gpu_resnet20.py report DIR [DIR ...]      # here: a RESULTS.md section of the runs
"""

import argparse
import functools
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if len(sys.argv) > 1 and sys.argv[1] == "train":
    os.environ["KERAS_BACKEND"] = "jax"

import numpy as np  # noqa: E402

SET = "resnet20:cifar10"
# benchmarks.common.SHARED, spelled out: benchmarks.common imports TensorFlow, which the GPU machine lacks
SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "shared", "data")
FEATURES = ("image/encoded", "image/class/label")


# --------------------------------------------------------------------------
# pack (TensorFlow)


def read_split(data_dir, split):
    """(list of JPEG bytes, int32 labels, SHA-256 of TensorFlow's decoded uint8 pixels) of a split's shards."""
    import glob

    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(data_dir, f"{split}-*.tfrecord")))
    if not files:
        raise SystemExit(f"no {split}-*.tfrecord in {data_dir!r}: point --data-dir at ../shared/data/cifar10")
    spec = {FEATURES[0]: tf.io.FixedLenFeature([], tf.string), FEATURES[1]: tf.io.FixedLenFeature([], tf.int64)}
    jpegs, labels, digest = [], [], hashlib.sha256()
    for record in tf.data.TFRecordDataset(files):
        example = tf.io.parse_single_example(record, spec)
        jpegs.append(example[FEATURES[0]].numpy())
        labels.append(int(example[FEATURES[1]]))
        digest.update(tf.io.decode_image(jpegs[-1], channels=3, expand_animations=False).numpy().tobytes())
    return jpegs, np.asarray(labels, "int32"), digest.hexdigest()


def pack(args):
    arrays = {}
    for split in ("train", "test"):
        jpegs, labels, sha = read_split(args.data_dir, split)
        arrays[f"{split}_jpeg"] = np.frombuffer(b"".join(jpegs), "uint8")
        arrays[f"{split}_offsets"] = np.cumsum([0] + [len(j) for j in jpegs]).astype("int64")
        arrays[f"{split}_labels"], arrays[f"{split}_sha256"] = labels, np.asarray(sha)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.1f} MB "
          f"({len(arrays['train_labels'])} train, {len(arrays['test_labels'])} test images)")


# --------------------------------------------------------------------------
# train (JAX)


def decode(data, split):
    """(uint8 images (n, 32, 32, 3), labels): TensorFlow's pixels, or SystemExit before any training."""
    import simplejpeg

    blob, offsets = data[f"{split}_jpeg"].tobytes(), data[f"{split}_offsets"]
    images = np.stack([simplejpeg.decode_jpeg(blob[a:b], colorspace="RGB", fastdct=True, fastupsample=False)
                       for a, b in zip(offsets[:-1], offsets[1:])])
    if hashlib.sha256(images.tobytes()).hexdigest() != str(data[f"{split}_sha256"]):
        raise SystemExit(f"the {split} pixels decoded here differ from TensorFlow's (SHA-256): "
                         f"simplejpeg {simplejpeg.__version__} decodes differently; not training on them")
    return images, data[f"{split}_labels"]


def recipe_config(epochs=None, **changes):
    """The `TrainConfig` of `zoo train` with the set's arguments (`pretrained.SETS`), and `changes`."""
    from benchmarks.pretrained import SETS
    from zoo.config import TrainConfig

    p = argparse.ArgumentParser()
    for flag in ("--epochs", "--batch-size"):
        p.add_argument(flag, type=int)
    for flag in ("--lr", "--weight-decay", "--warmup-epochs"):
        p.add_argument(flag, type=float)
    p.add_argument("--optimizer")
    p.add_argument("--data-arg", action="append")
    p.add_argument("--backup-every", type=int)
    a = p.parse_args(SETS[SET]["train"])
    if a.data_arg != ["val_fraction=0"]:
        raise SystemExit(f"the recipe's data arguments changed ({a.data_arg}): update gpu_resnet20.py")
    config = dict(epochs=epochs or a.epochs, batch_size=a.batch_size, optimizer=a.optimizer, learning_rate=a.lr,
                  weight_decay=a.weight_decay, warmup_epochs=a.warmup_epochs, mixed_precision=False, seed=0)
    config.update({k: v for k, v in changes.items() if v is not None})
    return TrainConfig(**config).validate()


def train_args(config):
    """`zoo train`'s arguments for `config`: the set's, with the values this run changed."""
    from benchmarks.pretrained import SETS

    args = list(SETS[SET]["train"])
    for flag, value in (("--epochs", config.epochs), ("--weight-decay", config.weight_decay),
                        ("--label-smoothing", config.label_smoothing or None)):
        if flag in args:
            args[args.index(flag) + 1] = f"{value:g}"
        elif value is not None:
            args += [flag, f"{value:g}"]
    return args + (["--seed", str(config.seed)] if config.seed else [])


def augment(images, key, pad=4):
    """`pipelines.image.crop_and_flip(pad).batched` in jax.numpy: each image reflect-padded by `pad`, cropped
    back at a random corner and flipped left-right with probability 1/2, as one gather of source pixels."""
    import jax
    import jax.numpy as jnp

    b, h, w, _ = images.shape  # (batch, height, width, channels)
    k_corner, k_flip = jax.random.split(key)
    corner = jax.random.randint(k_corner, (b, 2), 0, 2 * pad + 1)
    flip = jax.random.uniform(k_flip, (b, 1)) < 0.5

    def reflect(i, n):
        i = jnp.abs(i)
        return jnp.where(i >= n, 2 * (n - 1) - i, i)

    rows = reflect(corner[:, :1] - pad + jnp.arange(h)[None], h)  # (batch, height)
    steps = jnp.where(flip, jnp.arange(w - 1, -1, -1)[None], jnp.arange(w)[None])
    cols = reflect(corner[:, 1:] - pad + steps, w)  # (batch, width)
    return images[jnp.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def make_epoch(model, optimizer, steps, batch, label_smoothing=0.0):
    """A compiled `(state, images, labels, key) -> (state, loss sum, correct)`: one epoch, shuffled by `key`."""
    import jax
    import jax.numpy as jnp
    import keras

    def loss_fn(trainable, non_trainable, x, y):
        pred, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        onehot = jax.nn.one_hot(y, pred.shape[-1])  # as zoo.tasks' classification loss
        per_example = keras.losses.categorical_crossentropy(onehot, pred, label_smoothing=label_smoothing)
        correct = jnp.sum(jnp.argmax(pred, -1) == y)
        return jnp.mean(per_example), (non_trainable, jnp.sum(per_example), correct)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def epoch(state, images, labels, key):
        k_order, k_augment = jax.random.split(key)
        order = jax.random.permutation(k_order, images.shape[0])[:steps * batch].reshape(steps, batch)

        def step(state, inputs):
            trainable, non_trainable, opt_vars = state
            idx, k = inputs
            x = augment(images[idx], k).astype("float32") / 255.0  # (batch, 32, 32, 3) in [0, 1]
            (_, (non_trainable, total, correct)), grads = grad_fn(trainable, non_trainable, x, labels[idx])
            trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
            return [trainable, non_trainable, opt_vars], (total, correct)

        state, (totals, corrects) = jax.lax.scan(step, state, (order, jax.random.split(k_augment, steps)))
        return state, jnp.sum(totals), jnp.sum(corrects)

    return jax.jit(epoch, donate_argnums=0)


@functools.cache
def _classes(model):
    """`model`'s compiled `(trainable, non-trainable, uint8 images) -> class ids`, traced once per model."""
    import jax

    return jax.jit(lambda trainable, non_trainable, x: model.stateless_call(
        trainable, non_trainable, x.astype("float32") / 255.0)[0].argmax(-1))


def accuracy(model, images, labels, batch=1000):
    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables])
    hits = sum(int((np.asarray(_classes(model)(*state, images[i:i + batch])) == labels[i:i + batch]).sum())
               for i in range(0, len(images), batch))
    return hits / len(images)


def _variables(model, optimizer):
    return [model.trainable_variables, model.non_trainable_variables, optimizer.variables]


def save_state(path, state, epoch, history):
    """Every model and optimizer value after `epoch` epochs (a run killed at the device's time limit resumes
    from it: the data order and augmentation are pure functions of (seed, epoch))."""
    arrays = {f"{g}_{i}": np.asarray(v) for g, group in enumerate(state) for i, v in enumerate(group)}
    np.savez(path + ".tmp.npz", epoch=epoch, history=json.dumps(history), **arrays)
    os.replace(path + ".tmp.npz", path)


def fit(model, optimizer, config, images, labels, test, out, resume=None):
    """Train `model` in place for `config.epochs` (from `resume`'s epoch); returns the history (zoo's keys)."""
    import jax

    from zoo.optim import learning_rate_schedule

    steps = len(images) // config.batch_size
    schedule = learning_rate_schedule(config, steps)
    epoch_fn = make_epoch(model, optimizer, steps, config.batch_size, config.label_smoothing)
    state = [[v.value for v in group] for group in _variables(model, optimizer)]
    history, first = {"loss": [], "accuracy": [], "seconds": [], "learning_rate": []}, 0
    if resume:
        saved = np.load(resume)
        state = [[jax.numpy.asarray(saved[f"{g}_{i}"]) for i in range(len(group))] for g, group in enumerate(state)]
        first, history = int(saved["epoch"]), json.loads(str(saved["history"]))
        print(f"resumed after epoch {first} from {resume}", flush=True)
    images, labels = jax.device_put(images), jax.device_put(labels)
    key = jax.random.key(config.seed)
    for epoch in range(first, config.epochs):
        start = time.perf_counter()
        state, total, correct = epoch_fn(state, images, labels, jax.random.fold_in(key, epoch))
        n = steps * config.batch_size
        history["loss"].append(float(total) / n)
        history["accuracy"].append(float(correct) / n)
        history["seconds"].append(time.perf_counter() - start)
        history["learning_rate"].append(float(schedule(steps * (epoch + 1) - 1)))
        if epoch % 10 == 9 or epoch == config.epochs - 1 or epoch < first + 2:
            for v, value in zip(model.trainable_variables + model.non_trainable_variables, state[0] + state[1]):
                v.assign(value)
            print(f"epoch {epoch + 1}/{config.epochs}: loss {history['loss'][-1]:.4f}, accuracy "
                  f"{history['accuracy'][-1]:.4f}, lr {history['learning_rate'][-1]:.4f}, "
                  f"{history['seconds'][-1]:.2f} s; test {accuracy(model, *test):.4f}", flush=True)
            save_state(os.path.join(out, "state.npz"), state, epoch + 1, history)
    for group, values in zip(_variables(model, optimizer), state):
        for v, value in zip(group, values):
            v.assign(value)
    return history


def precise_bn(model, config, images):
    """`zoo.optim.precise_batch_norm` over augmented training batches of another order."""
    import jax

    from zoo.optim import precise_batch_norm

    key = jax.random.key(config.seed + 1)
    order = np.asarray(jax.random.permutation(key, len(images)))

    def batches():
        for i in range(0, len(order) - config.batch_size + 1, config.batch_size):
            x = augment(jax.device_put(images[order[i:i + config.batch_size]]), jax.random.fold_in(key, i))
            yield x.astype("float32") / 255.0, None

    return precise_batch_norm(model, batches(), config.precise_bn_examples)


def train(args):
    import dataclasses

    import jax
    import keras

    import zoo
    from zoo.optim import make_optimizer

    jax.config.update("jax_default_matmul_precision", "highest")  # float32 as on the CPU, not TF32
    data = np.load(args.data)
    started = time.perf_counter()
    images, labels = decode(data, "train")
    test = decode(data, "test")
    if args.limit:  # a smoke test on a CPU
        images, labels = images[:args.limit], labels[:args.limit]
        test = test[0][:args.limit], test[1][:args.limit]
    print(f"decoded {len(images)} train and {len(test[0])} test images in {time.perf_counter() - started:.1f} s; "
          "pixels equal TensorFlow's (SHA-256)", flush=True)
    config = recipe_config(args.epochs, weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
                           seed=args.seed)
    keras.utils.set_random_seed(config.seed)
    model = zoo.create_model("resnet20", input_shape=images.shape[1:], classes=10)
    optimizer = make_optimizer(config, len(images) // config.batch_size)
    optimizer.build(model.trainable_variables)
    started = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    history = fit(model, optimizer, config, images, labels, test, args.out, args.resume)
    seen = precise_bn(model, config, images)
    minutes = (time.perf_counter() - started) / 60
    test_accuracy = accuracy(model, *test)
    print(f"precise BN over {seen:,} examples; test accuracy {test_accuracy:.4f}; {minutes:.1f} min", flush=True)
    model.save_weights(os.path.join(args.out, "resnet20-cifar10.weights.h5"))
    device = jax.devices()[0]
    trained_on = {"device": f"{getattr(device, 'device_kind', device.platform)} ({device.platform})",
                  "backend": f"Keras {keras.__version__}, JAX {jax.__version__}", "precision": "float32",
                  "minutes": minutes, "test_accuracy_jax": test_accuracy, "precise_bn_examples": seen,
                  "config": dataclasses.asdict(config), "train_args": train_args(config),
                  "command": " ".join(["python", "benchmarks/gpu_resnet20.py", *sys.argv[1:]])}
    with open(os.path.join(args.out, "history.json"), "w") as f:
        json.dump({"history": history}, f)
    with open(os.path.join(args.out, "trained_on.json"), "w") as f:
        json.dump(trained_on, f, indent=1)


# --------------------------------------------------------------------------
# import (TensorFlow)


def scored_run(source, data):
    """`(trained_on, history, model, test accuracy)` of the GPU run in `source`, its weights scored here on the
    test split with TensorFlow."""
    import zoo

    with open(os.path.join(source, "trained_on.json")) as f:
        trained_on = json.load(f)
    with open(os.path.join(source, "history.json")) as f:
        history = json.load(f)["history"]
    model = zoo.create_model("resnet20", input_shape=tuple(data.input_shape), classes=data.num_classes)
    model.load_weights(os.path.join(source, "resnet20-cifar10.weights.h5"))
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, test_accuracy = model.evaluate(data.batches("test", 500, training=False), verbose=0)
    return trained_on, history, model, test_accuracy


def import_run(args):
    """A `zoo train` run folder at `args.run` from the GPU run's files in `args.source`."""
    import dataclasses

    import pipelines
    from zoo.config import TrainConfig
    from zoo.run_folder import RunFolder

    data = pipelines.load_dataset("cifar10", data_dir=args.data_dir, val_fraction=0)
    trained_on, history, model, test_accuracy = scored_run(args.source, data)
    config = dataclasses.replace(TrainConfig(**trained_on["config"]), out_dir=os.path.abspath(args.run))
    print(f"test accuracy {test_accuracy:.4f} with TensorFlow ({trained_on['test_accuracy_jax']:.4f} on "
          f"{trained_on['device']})")
    folder = RunFolder(args.run)
    folder.prepare(config, data, model=model)
    folder.write_start(config, data, model)
    folder.save_final(model, {"history": history, "evaluation": {"test_accuracy": test_accuracy},
                              "stopped_early_at": None, "trained_on": trained_on})
    folder.release()


def report(args):
    """A RESULTS.md section: each GPU run's test accuracy, measured again here with TensorFlow."""
    import pipelines
    from benchmarks.common import save

    data = pipelines.load_dataset("cifar10", data_dir=args.data_dir, val_fraction=0)
    rows = []
    for source in args.sources:
        run, history, _, test_accuracy = scored_run(source, data)
        config, decay = run["config"], run["config"]["weight_decay"]
        rows.append({"weight decay (decoupled; = L2)": f"{decay:g} (= {decay / 10:g})",
                     "epochs": config["epochs"], "trained on": f"{run['device']}, {run['backend']}, {run['precision']}",
                     "train minutes": run["minutes"], "last epoch's train accuracy": history["accuracy"][-1],
                     "test accuracy (JAX, there)": run["test_accuracy_jax"],
                     "test accuracy (TensorFlow, here)": test_accuracy})
    save("resnet20_cifar10_gpu", "ResNet-20 on CIFAR-10 (JPEG copy): the 182-epoch recipe on a GPU", rows,
         notes="`python benchmarks/gpu_resnet20.py train` on the device machine (one NVIDIA H200, Keras 3 on JAX, "
               "no TensorFlow there; the JPEGs decoded to TensorFlow's exact pixels, SHA-256 checked): the recipe "
               "of `benchmarks/pretrained.py resnet20:cifar10` (SGD 0.1, Nesterov momentum 0.9, batch 128, cosine "
               "with 0.5 warm-up epochs, pad-4 reflect crop + flip, precise BN over 8,192 examples), float32; the "
               "second row with 5x the weight decay. Scored on all 10,000 test images; the weights re-scored here "
               "on the CPU with the TensorFlow backend. Reference: 91.25% (He et al. 2016, Table 6), on the "
               "original pixels; this copy is JPEG at quality 75 (the standard quantization tables at 75) with "
               "4:2:0 chroma subsampling, in train and test alike. Not shipped: `pretrained.py` ships ResNet-20 "
               "weights at >= 91.25% only.")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("pack")
    a.add_argument("--data-dir", default=os.path.join(SHARED, "cifar10"))
    a.add_argument("--out", default=".gpu/cifar10.npz")
    a = sub.add_parser("train")
    a.add_argument("--data", default=".gpu/cifar10.npz")
    a.add_argument("--out", required=True)
    a.add_argument("--epochs", type=int, help="fewer epochs than the recipe's (a smoke test)")
    a.add_argument("--weight-decay", type=float, help="instead of the recipe's (as `zoo train --weight-decay`)")
    a.add_argument("--label-smoothing", type=float, help="as `zoo train --label-smoothing`")
    a.add_argument("--seed", type=int)
    a.add_argument("--resume", help="a state.npz an interrupted run wrote in its --out")
    a.add_argument("--limit", type=int, help="train on the first LIMIT images only (a smoke test)")
    a = sub.add_parser("import")
    a.add_argument("source")
    a.add_argument("--run", required=True)
    a.add_argument("--data-dir", default=os.path.join(SHARED, "cifar10"))
    a = sub.add_parser("report")
    a.add_argument("sources", nargs="+", help="folders `train --out` wrote")
    a.add_argument("--data-dir", default=os.path.join(SHARED, "cifar10"))
    args = p.parse_args()
    {"pack": pack, "train": train, "import": import_run, "report": report}[args.command](args)


if __name__ == "__main__":
    main()
