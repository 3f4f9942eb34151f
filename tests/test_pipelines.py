"""Input pipelines: every source on files the test writes, element specs,
augmentation on train only, determinism, and bad input."""

import gzip
import json
import os
import struct
import tarfile

import numpy as np
import pytest
import tensorflow as tf

import pipelines
from conftest import SHARED_DATA


def _png(path, value, size=(10, 12)):
    image = np.full((*size, 3), value, np.uint8)
    tf.io.write_file(path, tf.io.encode_png(image))


def _jpeg_bytes(value, size=(32, 32)):
    # A horizontal ramp, so crops and flips change the pixels.
    ramp = np.linspace(0, 120, size[1], dtype=np.float32)[None, :, None]
    image = np.broadcast_to(ramp + value % 120, (*size, 3)).astype(np.uint8)
    return tf.io.encode_jpeg(image).numpy()


def _example(image_bytes, label):
    return tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes])),
        "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"jpeg"])),
        "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    })).SerializeToString()


def _write_cifar_like(folder, n_train=40, n_test=10):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "labels.txt"), "w") as f:
        f.write("\n".join(f"class{i}" for i in range(10)))
    for split, n, shards in (("train", n_train, 2), ("test", n_test, 1)):
        for s in range(shards):
            path = os.path.join(folder, f"{split}-{s:05d}-of-{shards:05d}.tfrecord")
            with tf.io.TFRecordWriter(path) as w:
                for i in range(s, n, shards):
                    w.write(_example(_jpeg_bytes(i * 5 % 255), i % 10))


def _first_batch(data, split="train", batch=4, **kw):
    return next(iter(data.batches(split, batch, **kw)))


# ----------------------------------------------------------------- sources


def test_digits_is_the_offline_default_with_stratified_splits():
    data = pipelines.load_dataset("digits")
    assert data.sizes == {"train": 1266, "val": 176, "test": 355}
    x, y = _first_batch(data, batch=8)
    assert x.shape == (8, 8, 8, 1) and x.dtype == tf.float32 and y.dtype == tf.int32
    assert 0.0 <= float(tf.reduce_min(x)) and float(tf.reduce_max(x)) <= 1.0
    labels = np.concatenate([y.numpy() for _, y in data.batches("test", 64)])
    assert set(labels) == set(range(10))


def test_tfrecord_source_reads_cifar_layout(tmp_path):
    _write_cifar_like(str(tmp_path))
    data = pipelines.cifar10(str(tmp_path), val_fraction=0.25)
    assert data.sizes == {"train": 30, "val": 10, "test": 10}
    assert data.labels[3] == "class3"
    spec = data.train.element_spec
    assert spec[0].shape == (32, 32, 3) and spec[0].dtype == tf.uint8
    x, y = _first_batch(data, "test", batch=10)
    assert x.shape == (10, 32, 32, 3) and x.dtype == tf.float32
    assert sorted(y.numpy().tolist()) == list(range(10))


def _unequal_shards(folder, shards, corrupt=None):
    """`shards` TFRecord files of 1, 2, ... PNG records, half of them 40x36 (resized on decode to 32x32)."""
    rng = np.random.default_rng(shards)
    for s in range(shards):
        with tf.io.TFRecordWriter(os.path.join(folder, f"train-{s:05d}.tfrecord")) as w:
            for i in range(s + 1):
                image = tf.io.encode_png(rng.integers(0, 255, (32, 32, 3) if i % 2 else (40, 36, 3), np.uint8))
                w.write(_example(b"\x89PNG broken" if (s, i) == corrupt else image.numpy(), (s + i) % 10))
    return os.path.join(folder, "train-*.tfrecord")


@pytest.mark.parametrize("shards", [3, 9])  # all files in the read cycle at once / files waiting for a slot
def test_images_kept_at_load_read_as_the_streamed_records(tmp_path, shards):
    from pipelines import tfrecord_images

    pattern, report = _unequal_shards(str(tmp_path), shards), {}
    kept, n = tfrecord_images(pattern, image_size=(32, 32), num_classes=10, report=report)
    streamed, _ = tfrecord_images(pattern, image_size=(32, 32), validate=False)
    assert report["in_memory"] and n == shards * (shards + 1) // 2
    pairs = list(zip(kept.as_numpy_iterator(), streamed.as_numpy_iterator(), strict=True))
    assert len(pairs) == n
    for (x_kept, y_kept), (x_streamed, y_streamed) in pairs:
        assert x_kept.shape == (32, 32, 3) and np.array_equal(x_kept, x_streamed) and y_kept == y_streamed


def test_corrupt_record_in_a_later_shard_is_named(tmp_path):
    from pipelines import tfrecord_images

    pattern = _unequal_shards(str(tmp_path), 3, corrupt=(2, 1))
    with pytest.raises(ValueError, match=r"train-00002.tfrecord': record 1 \(of 1 corrupt\) does not decode"):
        tfrecord_images(pattern, image_size=(32, 32))
    report = {}
    kept, n = tfrecord_images(pattern, image_size=(32, 32), skip_corrupt=True, report=report)
    assert n == 5 and report["corrupt"] == {"train-00002.tfrecord": [1]} and len(list(kept)) == 5


def test_truncated_tfrecord_is_an_error_naming_the_file(tmp_path):
    _write_cifar_like(str(tmp_path))
    shard = tmp_path / "train-00001-of-00002.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(ValueError, match="train-00001-of-00002.tfrecord.*truncated"):
        pipelines.cifar10(str(tmp_path))


def test_idx_source_and_truncated_idx(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(20, 28, 28), dtype=np.uint8)
    labels = (np.arange(20) % 10).astype(np.uint8)

    def write(name, array, magic):
        header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(header + array.tobytes())

    for prefix in ("train", "t10k"):
        write(f"{prefix}-images-idx3-ubyte.gz", images, 3)
        write(f"{prefix}-labels-idx1-ubyte.gz", labels, 1)
    data = pipelines.load_dataset("mnist", str(tmp_path), val_fraction=0.25)
    assert data.sizes == {"train": 15, "val": 5, "test": 20}
    x, y = _first_batch(data, "test", batch=20)
    np.testing.assert_allclose(x.numpy()[..., 0], images / 255.0, atol=1e-6)
    np.testing.assert_array_equal(y.numpy(), labels)
    raw = gzip.decompress((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes())
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(raw[:-50])
    with pytest.raises(ValueError, match="truncated"):
        pipelines.load_dataset("mnist", str(tmp_path))


def test_image_folder_classes_resize_and_bad_files(tmp_path, caplog):
    for c, value in (("cat", 10), ("dog", 200)):
        os.makedirs(tmp_path / c)
        for i in range(3):
            _png(str(tmp_path / c / f"{i}.png"), value)
    (tmp_path / "dog" / "broken.jpg").write_bytes(b"this is not a jpeg")
    whole = (tmp_path / "cat" / "0.png").read_bytes()
    (tmp_path / "cat" / "truncated.png").write_bytes(whole[:len(whole) // 2])  # starts like a PNG, does not decode
    data = pipelines.image_folder(str(tmp_path), image_size=(16, 16))
    assert data.labels == ["cat", "dog"] and data.sizes["train"] == 6
    assert data.preprocessing["skipped_files"] == 2
    assert "Skipped 2 unreadable" in caplog.text and "truncated.png" in caplog.text
    x, y = _first_batch(data, "train", batch=6, training=False)
    assert x.shape == (6, 16, 16, 3)
    means = {int(l): float(tf.reduce_mean(img)) for img, l in zip(x, y)}
    assert means[0] < 0.1 < 0.7 < means[1]
    with pytest.raises(ValueError, match="2 files .* not readable images .*broken.jpg.*truncated.png"):
        pipelines.image_folder(str(tmp_path), image_size=(16, 16), on_error="raise")


def test_text_folder_from_a_tar_archive_like_aclimdb(tmp_path):
    root = tmp_path / "aclImdb"
    reviews = {"pos": ["a great wonderful film", "loved it great"], "neg": ["awful boring film", "bad bad"]}
    for split in ("train", "test"):
        for c, texts in reviews.items():
            os.makedirs(root / split / c)
            for i, t in enumerate(texts):
                (root / split / c / f"{i}_1.txt").write_text(t)
    os.makedirs(root / "train" / "unsup")
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname="aclImdb")
    texts, labels, classes = pipelines.read_text_folder(str(archive), "train")
    assert classes == ["neg", "pos"] and len(texts) == 4 and labels.tolist() == [0, 0, 1, 1]
    os.makedirs(tmp_path / "only_tar")
    os.rename(archive, tmp_path / "only_tar" / "aclImdb_v1.tar.gz")
    data = pipelines.imdb(str(tmp_path / "only_tar"), sequence_length=6, val_fraction=0.0)
    assert data.sizes == {"train": 4, "test": 4} and data.input_dtype == "int32"
    x, y = _first_batch(data, "test", batch=4)
    assert x.shape == (4, 6) and x.dtype == tf.int32
    assert (x.numpy()[:, -1] == 0).all()  # short reviews are right-padded with 0


def test_vectorizer_is_fitted_on_the_training_split_only(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\nalpha beta\t1\ngamma\t0\n")
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nzeta only in dev\t1\n")
    data = pipelines.sst2(str(tmp_path), sequence_length=4)
    vocab = data.vectorizer.get_vocabulary()
    assert {"alpha", "beta", "gamma"} <= set(vocab) and "zeta" not in vocab
    x, _ = _first_batch(data, "val", batch=1)
    assert x.numpy()[0, 0] == 1  # out-of-vocabulary id


def test_tsv_with_a_bad_label_names_the_line(tmp_path):
    (tmp_path / "train.tsv").write_text("sentence\tlabel\nfine\t1\nbroken\tgreat\n")
    with pytest.raises(ValueError, match="line 3: label 'great'"):
        pipelines.sst2(str(tmp_path))
    (tmp_path / "train.tsv").write_text("text\tlabel\nfine\t1\n")
    with pytest.raises(ValueError, match="text_column"):
        pipelines.sst2(str(tmp_path))


def test_time_series_windows_are_chronological_and_standardized(tmp_path):
    csv_path = tmp_path / "series.csv"
    csv_path.write_text('"Month","Passengers"\n' + "".join(f'"m{i}",{i}\n' for i in range(100)))
    data = pipelines.windows(pipelines.read_series(str(csv_path), "Passengers"), input_width=5, horizon=2)
    assert data.train.element_spec[0].shape == (5, 1) and data.train.element_spec[1].shape == (2, 1)
    mean, std = data.preprocessing["mean"], data.preprocessing["std"]
    xs, ys = next(iter(data.batches("test", 100, training=False)))
    raw_x, raw_y = xs.numpy() * std + mean, ys.numpy() * std + mean
    np.testing.assert_allclose(raw_y[:, 0, 0] - raw_x[:, -1, 0], 1.0, atol=1e-3)
    assert raw_y[:, 0, 0].min() >= 80 - 1e-3  # test targets come from the last 20%


def test_arrays_source():
    x = np.random.default_rng(0).normal(size=(50, 4)).astype("float32")
    data = pipelines.from_arrays(x, np.arange(50) % 2, val_fraction=0.2)
    assert data.sizes == {"train": 40, "val": 10}
    xb, yb = _first_batch(data, batch=8)
    assert xb.shape == (8, 4)


def test_tfds_by_name_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=12):
        data = pipelines.tfds_images("mnist", splits=("train", None, "test"), download=False)
        ds = tfds.load("mnist", split="train", as_supervised=True)  # the plain path, mocked too
        assert len(list(ds)) == 12
    assert data.sizes == {"train": 12, "test": 12}
    x, y = _first_batch(data, "train", batch=4, cache=False)
    assert x.shape == (4, 28, 28, 1) and y.dtype == tf.int32


# ----------------------------------------------------------------- stages


def test_augmentation_only_on_train_and_deterministic_per_epoch(tmp_path):
    _write_cifar_like(str(tmp_path), n_train=16, n_test=4)
    data = pipelines.cifar10(str(tmp_path), val_fraction=0.0)
    ordered = _first_batch(data, "train", batch=16, training=False)[0].numpy()
    plain_again = _first_batch(data, "train", batch=16, training=False)[0].numpy()
    np.testing.assert_array_equal(ordered, plain_again)
    a = _first_batch(data, "train", batch=16, seed=1, epoch=0)[0].numpy()
    b = _first_batch(data, "train", batch=16, seed=1, epoch=0)[0].numpy()
    c = _first_batch(data, "train", batch=16, seed=1, epoch=1)[0].numpy()
    np.testing.assert_array_equal(a, b)  # same (seed, epoch): same batch
    assert not np.array_equal(a, c)
    originals = {img.tobytes() for img in ordered}
    assert sum(img.tobytes() not in originals for img in a) >= 8  # most were cropped/flipped


def test_batched_crop_and_flip_gives_each_image_its_own_crop_of_the_padded_image():
    pad, rng = 2, np.random.default_rng(0)
    images = rng.integers(0, 255, (256, 6, 5, 3), np.uint8)
    out = pipelines.crop_and_flip(pad).batched(tf.constant(images), tf.constant([3, 4])).numpy()
    again = pipelines.crop_and_flip(pad).batched(tf.constant(images), tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(out, again)  # a pure function of the seed
    padded = np.pad(images, [(0, 0), (pad, pad), (pad, pad), (0, 0)], mode="reflect")
    seen = set()
    for i in range(len(images)):
        matches = [(dy, dx, flip) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1) for flip in (0, 1)
                   if np.array_equal(out[i], (lambda c: c[:, ::-1] if flip else c)(padded[i, dy:dy + 6, dx:dx + 5]))]
        assert matches, f"image {i} is no crop (or flipped crop) of its padded original"
        seen.update(matches)
    # every corner and both flips occur in 256 images, so the draws are per image, over the whole range
    assert {(dy, dx) for dy, dx, _ in seen} == {(dy, dx) for dy in range(5) for dx in range(5)}
    assert {flip for *_, flip in seen} == {0, 1}


def test_unknown_dataset_and_missing_dir_errors():
    with pytest.raises(ValueError, match="Did you mean \\['cifar10'\\]"):
        pipelines.load_dataset("cifar")
    with pytest.raises(ValueError, match="pass data_dir"):
        pipelines.load_dataset("mnist")
    with pytest.raises(ValueError, match="does not exist"):
        pipelines.load_dataset("sst2", "/no/such/dir")


# ----------------------------------------------------------------- real data


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, "cifar10")), reason="no shared data")
def test_shared_cifar10_tfrecords_decode():
    files = sorted(tf.io.gfile.glob(os.path.join(SHARED_DATA, "cifar10", "test-*.tfrecord")))
    ds, n = pipelines.tfrecord_images(files[0], image_size=(32, 32), validate=False)
    images, labels = next(iter(ds.batch(64)))
    assert images.shape == (64, 32, 32, 3) and int(tf.reduce_max(labels)) <= 9


def test_plain_tfds_names_go_to_tfds():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        data = pipelines.load_dataset("fashion_mnist", splits=("train", None, "test"), download=False)
    assert data.name == "fashion_mnist" and data.sizes == {"train": 6, "test": 6}


def test_tfds_text_datasets_train_from_the_cli(tmp_path, zoo_cli):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=24):
        data = pipelines.load_dataset("tfds:imdb_reviews", splits=("train", None, "test"), sequence_length=16)
        assert data.task == "text_classification" and data.labels == ["neg", "pos"]
        assert data.sizes == {"train": 24, "test": 24} and data.input_shape == (16,)
        proc = zoo_cli("train", "lstm_classifier_tiny", "--dataset", "imdb_reviews", "--data-arg",
                       "sequence_length=16", "--epochs", "1", "--batch-size", "8", "--quiet", "--out", str(tmp_path / "run"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.load(open(tmp_path / "run" / "data.json"))["labels"] == ["neg", "pos"]


def test_tfds_offline_and_a_folder_of_files_are_clear_errors(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    def offline(self, *args, **kwargs):
        raise ConnectionError("Max retries exceeded (NameResolutionError)")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    with pytest.raises(ValueError, match="could not download 'fashion_mnist' .*ConnectionError.* may be offline: "
                                         "run `tfds build fashion_mnist --data_dir DIR`.*--data-dir DIR"):
        pipelines.load_dataset("tfds:fashion_mnist", data_dir=str(tmp_path))
    # A folder of IDX files given to a TFDS name is not silently replaced by a download.
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(ValueError, match="not a prepared TFDS 'fashion_mnist'.*--dataset idx:"):
        pipelines.load_dataset("fashion_mnist", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="TFDS has no dataset 'no_such_set'"):
        pipelines.load_dataset("tfds:no_such_set")


def test_tfds_on_a_machine_without_internet_fails_before_any_download(tmp_path, monkeypatch):
    import socket

    from tensorflow_datasets.core.download import downloader

    calls = []
    monkeypatch.setattr(downloader, "_open_with_requests", lambda *a, **k: calls.append(1))
    for key in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)

    def unreachable(address, timeout=None):
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", unreachable)
    with pytest.raises(ValueError, match="could not download 'fashion_mnist'.*no connection to storage.googleapis.com"):
        pipelines.load_dataset("tfds:fashion_mnist", data_dir=str(tmp_path))
    assert calls == []  # TFDS' downloader (minutes of retries offline) never opened a URL


def test_relative_log_windows_invert_exactly():
    series = np.exp(np.linspace(0, 2, 60)).astype("float32") * (1 + 0.1 * np.sin(np.arange(60)))
    data = pipelines.windows(series, input_width=6, horizon=2, log=True, relative=True)
    x, y = next(iter(data.batches("test", 100, training=False)))
    assert np.allclose(x.numpy()[:, -1, 0], 0.0, atol=1e-6)  # relative to the last observed value
    restored = pipelines.invert_windows(data, "test", y.numpy())[:, 0, 0]
    np.testing.assert_allclose(restored, series[-len(restored) - 1:-1], rtol=1e-4)
