"""TensorFlow's start-up lines, filtered out once for every entry point.

TensorFlow's C++ start-up notices (no CUDA driver, CPU feature flags, oneDNN, absl's "before
InitializeLog" banner, printed twice, and the failed `cuInit` on a machine without a GPU) are
written to file descriptor 2 before `TF_CPP_MIN_LOG_LEVEL` takes effect, so they are caught at the
file descriptor while TensorFlow loads, and every line that is not one of those known notices is
written back to stderr: real warnings and errors stay.

`install()` (called by `import pipelines`, `import zoo` and `import export`) puts a finder on
`sys.meta_path` that wraps the first import of `tensorflow` or `keras`, whoever imports it, so
library users, notebooks and the command line see the same quiet start. `ZOO_TF_STARTUP_LOGS=1`
turns the filter off.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda drivers|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation placer already registered|oneDNN custom operations|TF_ENABLE_ONEDNN_OPTS|"
    r"cpu_feature_guard|This TensorFlow binary is optimized|To enable the following instructions|"
    r"rebuild TensorFlow with the appropriate compiler flags|TF-TRT Warning|failed call to cuInit|"
    r"Attempting to register factory for plugin|Created TensorFlow Lite XNNPACK delegate|^\s*$")
WRAPPED = ("tensorflow", "keras")


@contextlib.contextmanager
def _stderr_into(file):
    """File descriptor 2 (C++ libraries write there, not to `sys.stderr`) into `file` inside."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def startup_lines_filtered():
    """Catch what is written to file descriptor 2 inside; write back the lines that are not `NOISE`."""
    with tempfile.TemporaryFile(mode="w+b") as capture:
        try:
            with _stderr_into(capture):
                yield
        finally:
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines() if not NOISE.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


@contextlib.contextmanager
def stderr_dropped():
    """Drop what is written to file descriptor 2 inside (e.g. XNNPACK's line per op it cannot prepare)."""
    with open(os.devnull, "wb") as null, _stderr_into(null):
        yield


def _probe_devices():
    """List the devices inside the filter: the failed `cuInit` of a machine without a GPU prints here."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "config"):
        with contextlib.suppress(Exception):
            tf.config.list_physical_devices("GPU")


class _QuietLoader(importlib.abc.Loader):
    """The real loader, with `exec_module` run inside `startup_lines_filtered`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with startup_lines_filtered():
            self._loader.exec_module(module)
            if module.__name__ == "tensorflow" or "tensorflow" in sys.modules:
                _probe_devices()

    def __getattr__(self, name):  # get_data, is_package, resource readers: the real loader's
        return getattr(self._loader, name)


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the first `tensorflow` or `keras` import, then steps aside."""

    def find_spec(self, name, path=None, target=None):
        if name not in WRAPPED:
            return None
        uninstall()
        if "tensorflow" in sys.modules:
            return None
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


_FINDER = _QuietFinder()


def install():
    """Filter the start-up lines of the first TensorFlow/Keras import (no-op once TensorFlow is loaded,
    or with `ZOO_TF_STARTUP_LOGS=1`)."""
    if "tensorflow" in sys.modules or os.environ.get("ZOO_TF_STARTUP_LOGS") == "1" or _FINDER in sys.meta_path:
        return
    sys.meta_path.insert(0, _FINDER)


def uninstall():
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def import_tensorflow():
    """`import tensorflow` (and Keras) with the start-up notices filtered out; returns the module."""
    if "tensorflow" not in sys.modules and os.environ.get("ZOO_TF_STARTUP_LOGS") != "1":
        uninstall()
        with startup_lines_filtered():
            import keras  # noqa: F401  (loads TensorFlow under the TF backend)
            import tensorflow  # noqa: F401

            _probe_devices()
    import tensorflow

    return tensorflow
