"""Import TensorFlow without its start-up log lines.

TensorFlow's C++ start-up notices (no CUDA driver, CPU feature flags, oneDNN,
absl's "before InitializeLog" banner) are written to file descriptor 2
before `TF_CPP_MIN_LOG_LEVEL` takes effect, so they are caught at the file
descriptor while TensorFlow loads, and every line that is not one of those
known notices is written back to stderr: real warnings and errors stay.
"""

import os
import re
import sys
import tempfile

NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda drivers|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation placer already registered|oneDNN custom operations|TF_ENABLE_ONEDNN_OPTS|"
    r"cpu_feature_guard|This TensorFlow binary is optimized|To enable the following instructions|"
    r"rebuild TensorFlow with the appropriate compiler flags|TF-TRT Warning|failed call to cuInit|"
    r"Attempting to register factory for plugin|^\s*$")


def import_tensorflow():
    """`import tensorflow` (and Keras) with the start-up notices filtered out; returns the module."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401  (loads TensorFlow under the TF backend)
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines()
                    if not NOISE.search(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)
    return tensorflow
