"""tf.data throughput on the CIFAR-10 TFRecords (decode + crop/flip + normalize
+ batch), every epoch: zoo's pipeline (decoded once at load, parallel, prefetched)
vs a naive one (sequential, decoding every epoch), against what a ResNet-20
training step consumes.

usage: python benchmarks/pipeline.py [--data-dir ../shared/data/cifar10] [--batch-size 128] [--epochs 3]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main():
    from benchmarks.common import SHARED

    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default=os.path.join(SHARED, "cifar10"))
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-steps", type=int, default=8)
    args = p.parse_args()

    import glob

    import keras
    import numpy as np
    import tensorflow as tf

    import pipelines
    import zoo
    from benchmarks.common import save, train_step_runner

    files = sorted(glob.glob(os.path.join(args.data_dir, "train-*.tfrecord")))
    augment, normalize = pipelines.crop_and_flip(4), pipelines.image.rescale(1 / 255)

    def naive():
        # The same stages as zoo's pipeline (read, parse, decode, shuffle, augment with per-example
        # stateless seeds, normalize, batch), written the plain way: one file reader, sequential
        # maps, no cache, no prefetch.
        features = {"image/encoded": tf.io.FixedLenFeature([], tf.string),
                    "image/class/label": tf.io.FixedLenFeature([], tf.int64)}

        def parse(record):
            ex = tf.io.parse_single_example(record, features)
            image = tf.io.decode_jpeg(ex["image/encoded"], channels=3)
            return image, tf.cast(ex["image/class/label"], tf.int32)

        ds = tf.data.TFRecordDataset(files).map(parse).shuffle(10_000, seed=0)
        ds = ds.enumerate().map(lambda i, e: (normalize(augment(e[0], tf.cast(tf.stack([1, i]), tf.int32))), e[1]))
        return ds.batch(args.batch_size, drop_remainder=True)

    def epoch_rate(ds):
        t0 = time.perf_counter()
        n = sum(int(x.shape[0]) for x, _ in ds)
        return n / (time.perf_counter() - t0), time.perf_counter() - t0

    # Whole epochs, interleaved: naive epoch e, zoo epoch e. zoo's load (every record decoded once and
    # checked, the decoded images kept) is timed apart and also charged to its first epoch.
    t0 = time.perf_counter()
    data = pipelines.cifar10(args.data_dir, val_fraction=0.0)
    load_seconds = time.perf_counter() - t0
    rows = []
    for epoch in range(args.epochs):
        naive_ips, _ = epoch_rate(naive())
        zoo_ips, zoo_seconds = epoch_rate(data.batches("train", args.batch_size, seed=0, epoch=epoch,
                                                       drop_remainder=True))
        rows.append({"epoch": epoch + 1, "naive images/s": naive_ips, "zoo images/s": zoo_ips,
                     "zoo vs naive": zoo_ips / naive_ips})
        if epoch == 0:
            images = zoo_ips * zoo_seconds
            with_load = images / (zoo_seconds + load_seconds)
            rows.append({"epoch": "1, zoo's load included", "naive images/s": naive_ips, "zoo images/s": with_load,
                         "zoo vs naive": with_load / naive_ips})
        print(rows[-1], flush=True)
    keras.utils.set_random_seed(0)
    run = train_step_runner(zoo.resnet20(), args.batch_size)
    train_ips = args.batch_size / float(np.median([run(args.train_steps) for _ in range(3)]))
    for r in rows:
        r["zoo x ResNet-20 train step"] = r["zoo images/s"] / train_ips
    rows.append({"epoch": f"ResNet-20 training step consumes (batch {args.batch_size})", "zoo images/s": train_ips})
    save("pipeline", "CIFAR-10 tf.data pipeline: every epoch vs a naive pipeline (CPU)", rows,
         columns=["epoch", "naive images/s", "zoo images/s", "zoo vs naive", "zoo x ResNet-20 train step"],
         notes=("Whole training epochs (50,000 images, batch %d), drained without training, naive and zoo "
                "interleaved epoch by epoch in one process. naive: the same stages written the plain way (one "
                "file reader, sequential maps, decode every epoch, shuffle buffer 10,000, no cache, no prefetch). "
                "zoo: `pipelines.cifar10` — its load decodes and checks every record once (%.1f s here) and keeps "
                "the decoded uint8 images, so no epoch decodes; shuffle over the whole split, augment per batch (each "
                "image its own crop and flip, `crop_and_flip(4).batched`), prefetch. The training rate is compiled ResNet-20 steps on a fixed batch (no input pipeline); "
                "all on the same 2 cores." % (args.batch_size, load_seconds)))


if __name__ == "__main__":
    main()
