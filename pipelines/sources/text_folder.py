"""`textfolder:` — text classification from class folders of text files (one document per file),
in a folder or read in place from a `.tar`/`.tar.gz` archive, streamed through `tf.data`.

Layouts (`keras.utils.text_dataset_from_directory`'s, plus split folders):

    root/<class>/*.txt                           one pool, split by a hash of each document
    root/{train,val,test}/<class>/*.txt          split folders (aclImdb: train/ and test/)

A single folder that only wraps the rest (`aclImdb/`) is looked through. A split without a folder
is carved out of the training folder by a fingerprint of each document's class and text (as `text:`
files are), so adding documents keeps every old one's split. Only file names are listed in memory:
one pass counts every split's classes and checks that each file is UTF-8, one pass adapts the
vocabulary, and epochs read the files again (kept in memory after the first epoch up to
`CACHE_ROWS` documents).
"""

import itertools
import os
import tarfile
from collections import Counter

import numpy as np
import tensorflow as tf

from pipelines.core import AUTOTUNE, check_fractions
from pipelines.delimited import read_class_names
from pipelines.paths import member_name, walk_files
from pipelines.registry import option, register_dataset, register_source
from pipelines.splits import BUCKETS, SPLITS
from pipelines.text import BATCH, CACHE_ROWS, batched_text_splits, text_split_code

SPLIT_FOLDERS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                 "dev": "val", "test": "test", "testing": "test"}
ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
UNLABELED = ("unsup",)  # aclImdb's unlabeled reviews: not a class unless class_names= names it


# --------------------------------------------------------------------------
# Listing: which files are documents, of which class and split folder


def _is_archive(path):
    return os.path.isfile(path) and path.endswith(ARCHIVES)


def _list_names(path, extensions):
    """Relative POSIX names of every file with one of `extensions`, in reading order (sorted walk for a
    folder, archive order for a tar)."""
    if _is_archive(path):  # (the path policy: pipelines.paths)
        try:
            with tarfile.open(path, "r:*") as tar:
                return [member_name(path, m) for m in tar
                        if (m.isfile() or m.issym() or m.islnk()) and m.name.endswith(extensions)]
        except (tarfile.TarError, EOFError, OSError) as err:
            raise ValueError(f"{path!r} is truncated or not a readable tar archive ({err}). Re-copy it.") from err
    if not os.path.isdir(path):
        raise ValueError(f"{path!r} is neither a folder nor a tar archive ({', '.join(ARCHIVES)}) of class folders.")
    return walk_files(path, extensions)


def _layout(path, names, class_names):
    """`(entries, classes, split folders)`: `entries` is `[(name, folder split index, class index)]` in reading
    order; files outside a class folder (aclImdb's `imdbEr.txt`) and classes not in `class_names` are left out."""
    parts = [n.split("/") for n in names]
    depth = 0  # look through a folder that only wraps the rest (aclImdb/, whose own imdbEr.txt is no document)
    while True:
        deep = {p[depth] for p in parts if len(p) > depth + 2}  # folders holding (class) folders of files
        if len(deep) != 1 or next(iter(deep)).lower() in SPLIT_FOLDERS:
            break
        depth += 1
    names, parts = zip(*[(n, p[depth:]) for n, p in zip(names, parts) if len(p) > depth]) if depth else (names, parts)
    split_layout = any(len(p) >= 3 and p[0].lower() in SPLIT_FOLDERS for p in parts)
    found = []  # (name, split, class folder)
    for name, p in zip(names, parts):
        if split_layout and len(p) >= 3 and p[0].lower() in SPLIT_FOLDERS:
            found.append((name, SPLIT_FOLDERS[p[0].lower()], p[1]))
        elif not split_layout and len(p) >= 2:
            found.append((name, "train", p[0]))
    folders = {s for _, s, _ in found}
    if "train" not in folders:
        where = "train/<class>/ files" if split_layout else "<class>/ folders of text files"
        raise ValueError(f"No {where} found in {path!r}. Expected <class>/*.txt, or train/<class>/*.txt (with "
                         "optional val/ and test/ folders).")
    present = sorted({c for _, s, c in found if s == "train"})
    if class_names is None:
        class_names = [c for c in present if c not in UNLABELED]
    missing = [c for c in class_names if c not in present]
    if missing:
        raise ValueError(f"{path!r}: no training folder for class(es) {missing}; the class folders are {present}. "
                         "Fix class_names= or the folders.")
    index = {c: i for i, c in enumerate(class_names)}
    for _, s, c in found:
        if s != "train" and c not in index and c not in UNLABELED:
            raise ValueError(f"{path!r}: the {s} folder has a class folder {c!r} that training has not "
                             f"({class_names}). Rename or remove it.")
    entries = [(n, SPLITS.index(s), index[c]) for n, s, c in found if c in index]
    return entries, list(class_names), folders


def _documents(path, entries, batch=None):
    """A re-iterable generator function of `(file bytes, class index, folder split index)` in reading
    order; with `batch`, of lists of up to `batch` of each (what `tf.data` reads: one Python call per batch)."""
    wanted = {n: (s, c) for n, s, c in entries}

    def from_tar():
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                found = wanted.get(member_name(path, member)) if member.isfile() else None
                if found:
                    yield tar.extractfile(member).read(), found[1], found[0]

    def from_folder():
        for name, split, label in entries:
            with open(os.path.join(path, name), "rb") as f:
                yield f.read(), label, split

    one = from_tar if _is_archive(path) else from_folder
    if batch is None:
        return one

    def batches():
        rows = iter(one())
        while chunk := list(itertools.islice(rows, batch)):
            texts, labels, splits = zip(*chunk)
            yield np.array(texts, dtype=object), np.array(labels, "int32"), np.array(splits, "int32")

    return batches


# --------------------------------------------------------------------------
# Splits: split folders, else carved out of train by a fingerprint; `limit` by a seeded hash


def _stream(path, entries, class_names, carve, limit_keys):
    """`(text, label, final split index, folder split index, limit key)` batches of every document. `carve`: the (val, test)
    fractions taken out of the training folder; `limit_keys`: seeded hash in [0, 1) per document."""
    spec = (tf.TensorSpec((None,), tf.string), tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.int32))
    names = tf.constant(class_names)

    def codes(texts, labels, folders):
        carved = tf.cast(text_split_code(texts, tf.gather(names, labels), *carve), tf.int32)
        split = tf.where(tf.equal(folders, 0), carved, folders)
        return texts, labels, split, folders, limit_keys(texts)

    return tf.data.Dataset.from_generator(_documents(path, entries, BATCH), output_signature=spec).map(
        codes, num_parallel_calls=AUTOTUNE)


def _count(path, entries, stream):
    """`(label, split, folder split, limit key)` arrays of every document (numbers, not texts), each
    file checked to be UTF-8 text."""
    out = [], [], [], []
    try:
        for texts, *numbers in stream.map(
                lambda t, y, s, f, k: (tf.strings.unicode_transcode(t, "UTF-8", "UTF-8", errors="strict"), y, s, f, k)):
            for a, v in zip(out, numbers):
                a.append(v.numpy())
    except tf.errors.OpError:
        for (name, _, _), (text, _, _) in zip(entries, _documents(path, entries)()):  # the file tf.data refused
            try:
                text.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{os.path.join(path, name)!r} is not UTF-8 text (byte {text[err.start]:#x} at "
                                 f"offset {err.start}). Re-save it as UTF-8 or remove it.") from None
        raise
    return [np.concatenate(a) if a else np.zeros(0) for a in out]


def _thresholds(folders, keys, limit):
    """Per folder split, the largest limit key kept: the `limit` documents of smallest key."""
    out = np.ones(len(SPLITS))
    for s in range(len(SPLITS)):
        k = np.sort(keys[folders == s])
        if limit and len(k) > limit:
            out[s] = k[limit - 1]
    return out


@register_source("textfolder", path="FOLDER|TAR", description="class folders of text files, or their tar archive",
                 options={"class_names": option("'a,b,c' or a file with one name per line (fixes the order)"), "val_fraction": option("held-out share for validation", type="float"), "test_fraction": option("held-out share for testing", type="float")})
def text_folder(path, *, class_names=None, extensions=".txt", val_fraction=0.1, test_fraction=0.1, limit=None,
                seed=0, max_tokens=20000, sequence_length=128, truncate="post", vectorizer=None):
    """Text classification from class folders of text files (one document per file), a folder or a
    `.tar`/`.tar.gz` archive read in place, streamed.

    `root/<class>/*.txt`, or split folders `root/train/<class>/*.txt` with optional `val/` (`dev/`,
    `validation/`) and `test/`. A split without a folder is carved out of `train/` by a fingerprint
    of each document (`val_fraction`, `test_fraction`). Class names are the sorted class folders
    (`class_names=` picks and orders them; folders not named are left out, as is aclImdb's `unsup`).
    `limit` keeps that many documents of each split folder, a seeded sample of both classes
    (quick runs). A file that is not UTF-8 is refused with its name.

    Example:

    ```python
    import pipelines
    data = pipelines.text_folder("aclImdb_v1.tar.gz", class_names=["neg", "pos"], sequence_length=200)
    data.labels, data.sizes, data.extras["class_counts"]
    ```
    """
    check_fractions(val_fraction, test_fraction)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"`limit` must be a positive number of documents per split folder. Received: limit={limit!r}")
    extensions = tuple(extensions.split(",")) if isinstance(extensions, str) else tuple(extensions)
    names = _list_names(path, extensions)
    entries, class_names, folders = _layout(path, names, read_class_names(class_names))
    if len(class_names) < 2:
        raise ValueError(f"{path!r} has one class folder {class_names}; a classifier needs two or more.")
    carve = (0.0 if "val" in folders else val_fraction, 0.0 if "test" in folders else test_fraction)
    salt = [int(seed), 0x7A6F6F]  # SipHash key: the sample `limit` keeps follows `seed`

    def limit_keys(texts):
        return tf.cast(tf.strings.to_hash_bucket_strong(texts, BUCKETS, key=salt), tf.float64) / float(BUCKETS)

    stream = _stream(path, entries, class_names, carve, limit_keys)
    labels, split, folder_of, keys = _count(path, entries, stream)
    cut = _thresholds(folder_of, keys, limit)
    kept = keys <= cut[folder_of]
    counts = {s: Counter(labels[kept & (split == i)].tolist()) for i, s in enumerate(SPLITS)}
    counts = {s: c for s, c in counts.items() if c}
    if "train" not in counts:
        raise ValueError(f"{path!r}: no documents fell in the training split. Lower val_fraction/test_fraction.")
    cut = tf.constant(cut)

    def split_of(i):
        def keep(texts, labels, split, folders, keys):
            mask = tf.equal(split, i) & (keys <= tf.gather(cut, folders))  # the limit of the document's folder
            return tf.boolean_mask(texts, mask), tf.boolean_mask(labels, mask)

        return stream.map(keep, num_parallel_calls=AUTOTUNE).filter(lambda t, y: tf.size(y) > 0)

    batches = {s: split_of(i) for i, s in enumerate(SPLITS) if s in counts}
    sizes = {s: sum(c.values()) for s, c in counts.items()}
    data = batched_text_splits(batches, sizes, name=f"textfolder:{os.path.basename(os.path.normpath(path))}",
                               labels=class_names, max_tokens=max_tokens, sequence_length=sequence_length,
                               truncate=truncate, vectorizer=vectorizer, cacheable=sum(sizes.values()) <= CACHE_ROWS)
    data.source = path
    data.extras["class_counts"] = {s: {c: int(found.get(i, 0)) for i, c in enumerate(class_names)}
                                   for s, found in counts.items()}
    return data


# --------------------------------------------------------------------------
# IMDB (a preset of `textfolder:`) and an in-memory reader


@register_dataset("imdb", description="aclImdb folder or its .tar.gz")
def imdb(data_dir, *, max_tokens=20000, sequence_length=200, val_fraction=0.1, seed=0, limit=None,
         truncate="pre", vectorizer=None):
    """IMDB reviews (aclImdb: `train/` and `test/` class folders `neg`, `pos`), a preset of the
    `textfolder:` source (`pipelines.text_folder`): `data_dir` holds the `aclImdb` folder or its
    `.tar.gz` (read in place), or is the folder. Validation reviews are carved out of `train/` by a
    fingerprint of each review. `limit` keeps a seeded sample of that many reviews per split folder
    (quick runs). Long reviews keep their last `sequence_length` tokens by default."""
    source = data_dir
    if os.path.isdir(os.path.join(data_dir, "aclImdb")):
        source = os.path.join(data_dir, "aclImdb")
    elif os.path.isdir(data_dir) and not os.path.isdir(os.path.join(data_dir, "train")):
        tars = sorted(f for f in os.listdir(data_dir) if f.endswith(ARCHIVES))
        if not tars:
            raise ValueError(f"No aclImdb folder or tar archive in data_dir={data_dir!r}.")
        source = os.path.join(data_dir, tars[0])
    data = text_folder(source, class_names=["neg", "pos"], val_fraction=val_fraction, test_fraction=0.0, limit=limit,
                       seed=seed, max_tokens=max_tokens, sequence_length=sequence_length, truncate=truncate,
                       vectorizer=vectorizer)
    data.name, data.source = "imdb", data_dir
    return data


def read_text_folder(path, split=None):
    """`(texts, labels, class_names)` arrays from `<root>/<class>/*.txt` (a folder, or a `.tar`/`.tar.gz`
    holding one, read in place); `split` picks a split folder (`"train"`, `"test"`). In memory: for
    training, `pipelines.text_folder` streams the same layouts."""
    entries, classes, _ = _layout(path, _list_names(path, (".txt",)), None)
    if split is not None:
        entries = [e for e in entries if e[1] == SPLITS.index(SPLIT_FOLDERS.get(split, split))]
        if not entries:
            raise ValueError(f"No {split}/<class>/*.txt files found in {path!r}.")
    texts, labels = [], []
    for text, label, _ in _documents(path, entries)():
        texts.append(text.decode("utf8", errors="replace"))
        labels.append(label)
    return np.array(texts, dtype=object), np.array(labels, "int32"), classes
