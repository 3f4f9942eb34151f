"""The notebooks run top to bottom (nbclient), on small data."""

import glob
import os

import pytest

from conftest import REPO

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "notebooks", "*.ipynb")))


def test_there_are_four_notebooks():
    assert [os.path.basename(p) for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_transfer_learning.ipynb", "03_text.ipynb", "04_deploy.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_executes(path):
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(path, as_version=4)
    client = NotebookClient(book, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": os.path.dirname(path)}})
    client.execute()  # raises CellExecutionError with the failing cell and traceback
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    images = [o for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if "image/png" in o.get("data", {})]
    assert images, "every notebook shows at least one plot"


def test_committed_notebooks_are_what_make_notebooks_generates(tmp_path):
    import subprocess
    import sys

    import nbformat

    subprocess.run([sys.executable, os.path.join(REPO, "notebooks", "make_notebooks.py"), "--out", str(tmp_path)],
                   check=True)
    for path in NOTEBOOKS:
        committed = nbformat.read(path, as_version=4)
        generated = nbformat.read(str(tmp_path / os.path.basename(path)), as_version=4)
        assert [(c.cell_type, c.source) for c in committed.cells] == [
            (c.cell_type, c.source) for c in generated.cells], f"{path}: run notebooks/make_notebooks.py"


def test_committed_notebooks_carry_their_outputs():
    """Committed executed (`make_notebooks.py --execute`), so they read on GitHub with their plots and tables."""
    import nbformat

    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert all(c.get("execution_count") for c in code), f"{path}: run notebooks/make_notebooks.py --execute"
        assert any("image/png" in o.get("data", {}) for c in code for o in c.get("outputs", [])), path
        errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, path
