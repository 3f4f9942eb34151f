"""tf.data throughput on the CIFAR-10 TFRecords (decode + crop/flip + normalize
+ batch) -- tuned (parallel, cached, prefetched) vs naive (sequential, no
prefetch) -- against what a ResNet-20 training step consumes.

usage: python benchmarks/pipeline.py [--data-dir ../shared/data/cifar10] [--batch-size 128]
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
    p.add_argument("--batches", type=int, default=150)
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

    def tuned(epoch):
        data = pipelines.cifar10(args.data_dir, val_fraction=0.0)
        return data.batches("train", args.batch_size, seed=0, epoch=epoch, drop_remainder=True)

    def rate(ds, batches):
        it = iter(ds)
        next(it)  # start-up (file open, first shuffle buffer fill) is not throughput
        start = time.perf_counter()
        for _ in range(batches):
            next(it)
        return batches * args.batch_size / (time.perf_counter() - start)

    options = tf.data.Options()
    options.threading.private_threadpool_size = os.cpu_count()
    naive_ips = rate(naive(), args.batches)
    # The first epoch decodes (and fills the cache); later epochs read the cache.
    data = pipelines.cifar10(args.data_dir, val_fraction=0.0)
    n = data.sizes["train"] // args.batch_size
    t0 = time.perf_counter()
    for _ in data.batches("train", args.batch_size, seed=0, epoch=0, drop_remainder=True):
        pass
    first_epoch_ips = n * args.batch_size / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in data.batches("train", args.batch_size, seed=0, epoch=1, drop_remainder=True):
        pass
    cached_epoch_ips = n * args.batch_size / (time.perf_counter() - t0)
    steady_ips = rate(data.batches("train", args.batch_size, seed=0, epoch=2, drop_remainder=True), args.batches)
    del tuned
    keras.utils.set_random_seed(0)
    run = train_step_runner(zoo.resnet20(), args.batch_size)
    train_ips = args.batch_size / float(np.median([run(args.train_steps) for _ in range(3)]))
    rows = [
        {"pipeline": "naive (same stages; sequential maps, no cache, no prefetch)", "images/s": naive_ips,
         "x ResNet-20 train step": naive_ips / train_ips},
        {"pipeline": "zoo, first epoch (parallel decode + augment, fills cache)", "images/s": first_epoch_ips,
         "x ResNet-20 train step": first_epoch_ips / train_ips},
        {"pipeline": "zoo, later epochs (cached uint8, parallel augment, prefetch)", "images/s": cached_epoch_ips,
         "x ResNet-20 train step": cached_epoch_ips / train_ips},
        {"pipeline": "zoo, cached, steady state (same window as naive: batches after the first)",
         "images/s": steady_ips, "x ResNet-20 train step": steady_ips / train_ips},
        {"pipeline": "ResNet-20 training step consumes (batch %d)" % args.batch_size, "images/s": train_ips,
         "x ResNet-20 train step": 1.0},
    ]
    for r in rows:
        print(r)
    rows[1]["vs naive"] = first_epoch_ips / naive_ips
    rows[2]["vs naive"] = cached_epoch_ips / naive_ips
    rows[3]["vs naive"] = steady_ips / naive_ips
    save("pipeline", "CIFAR-10 tf.data pipeline throughput vs the training step (CPU)", rows,
         columns=["pipeline", "images/s", "x ResNet-20 train step", "vs naive"],
         notes=("Pipeline rates drain the iterator without training; the training rate is compiled "
                "ResNet-20 steps on a fixed batch (no input pipeline). All on the same 2 cores, so "
                "during real training the pipeline shares them with the model. The naive rate is over "
                f"{args.batches} batches after the first; zoo's are whole epochs, shuffle-buffer fill "
                "included."))


if __name__ == "__main__":
    main()
