"""The one way the zoo writes a file: to a temporary sibling, fsynced, then renamed.

A reader (TF Serving, a resumed run, `zoo verify`) sees either the old file
or the complete new one, never a half-written file, also after a crash or
SIGKILL mid-write; a failed write leaves no temporary behind. Files get the
user's umask (0644 under 022), as `open()` would give them, so a serving
container running as another user can read them.

Example:

```python
from pipelines.files import atomic_write, atomic_path
atomic_write("runs/x/config.json", b"{}")
with atomic_path("runs/x/model.keras") as tmp:   # any writer that takes a path
    model.save(tmp)
```
"""

import contextlib
import errno
import json
import os
import shutil
import uuid

TEMP_PREFIX = ".tmp-"


def _temp_sibling(path, suffix=""):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    name = os.path.basename(path)
    # Keep the real file's extension last: Keras picks the format from it.
    return os.path.join(folder, f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}{suffix}")


def _fsync_tree(path):
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for f in files:
                _fsync_file(os.path.join(root, f))
    else:
        _fsync_file(path)


def _fsync_file(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems do not open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove(path):
    """Remove a file or folder if it exists."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def atomic_path(path, *, directory=False, replace=True):
    """Yield a temporary sibling path to write `path` through; on success fsync
    it and rename it onto `path`, on any failure remove it.

    Args:
        path: the final file (or folder, with `directory=True`).
        directory: the temporary is created as an empty folder.
        replace: replace an existing `path` (files only); `False` fails with
            `FileExistsError` if `path` appeared meanwhile (folders never replace).
    """
    tmp = _temp_sibling(path)
    if directory:
        os.mkdir(tmp)
    try:
        yield tmp
        _fsync_tree(tmp)
        if directory or not replace:
            if os.path.lexists(path):
                raise FileExistsError(f"{path!r} already exists; it was not replaced.")
            os.rename(tmp, path)
        else:
            os.replace(tmp, path)
        _fsync_dir(os.path.dirname(os.path.abspath(path)))
    except OSError as err:
        remove(tmp)
        if no_space(err):
            raise OSError(errno.ENOSPC, f"No space left on the device to write {path!r} (the file there, if any, "
                                        "is unchanged): free some space, or write elsewhere (--out)") from None
        raise
    except BaseException:
        remove(tmp)
        raise


def no_space(err):
    """True for a full disk, however the writer (h5py, Keras, TensorFlow) wrapped it."""
    while err is not None:
        if getattr(err, "errno", None) == errno.ENOSPC or "No space left on device" in str(err):
            return True
        err = err.__cause__ or err.__context__
    return False


@contextlib.contextmanager
def temporary_folder(parent, name):
    """A new dot-prefixed folder in `parent` (ignored by TF Serving), removed on exit whatever happens."""
    path = _temp_sibling(os.path.join(parent, name))
    os.mkdir(path)
    try:
        yield path
    finally:
        remove(path)


def atomic_write(path, data):
    """Write `data` (bytes or str) to `path` atomically."""
    if isinstance(data, str):
        data = data.encode()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def write_json(path, obj):
    """`obj` as indented JSON, atomically (NumPy scalars and arrays become numbers/lists)."""
    atomic_write(path, json.dumps(obj, indent=2, default=json_default) + "\n")


def json_default(o):
    """`json.dumps(..., default=json_default)`: NumPy scalars and arrays as numbers and lists, the rest as str."""
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, (np.ndarray, tuple)):
        return list(o)
    return str(o)


def stale_temporaries(folder):
    """Temporaries in `folder` left by killed writers (their process is gone)."""
    out = []
    if not os.path.isdir(folder):
        return out
    for entry in os.listdir(folder):
        if not entry.startswith(TEMP_PREFIX):
            continue
        pid = entry[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            out.append(os.path.join(folder, entry))
    return out


def alive(pid):
    """True while process `pid` runs (this process included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
