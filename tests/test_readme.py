"""The README's Python examples run as written, each in a fresh process, in order (a later one may use a
folder an earlier one wrote), with `ZOO_QUICK_RUN=1` (one epoch per run: the same code, small cost).
Examples whose first line says they need the network (ImageNet downloads) are the only ones left out."""

import os
import re
import subprocess
import sys

from conftest import REPO

NETWORK = "# needs the network"


def _blocks():
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_the_readme_python_examples_run(tmp_path):
    import tensorflow as tf
    from sklearn.datasets import load_digits

    digit = load_digits().images[-1].astype("uint8")  # a user's image of a digit (0..16 grey levels)
    tf.io.write_file(str(tmp_path / "digit.png"), tf.io.encode_png(digit[..., None]))
    blocks = _blocks()
    offline = [b for b in blocks if not b.startswith(NETWORK)]
    assert len(blocks) - len(offline) == 2, "only the ImageNet examples may need the network"
    env = {**os.environ, "ZOO_QUICK_RUN": "1", "PYTHONPATH": REPO, "ZOO_RUNS_DIR": str(tmp_path / "runs")}
    for i, code in enumerate(offline):
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"README example {i + 1}:\n{code}\n{proc.stderr[-3000:]}"
    assert os.path.exists(tmp_path / "exports" / "mlp-py" / "MODEL_CARD.md")
