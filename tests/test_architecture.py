"""The architecture, checked by reading the code: imports flow one way (pipelines -> zoo -> export ->
app), no import cycles (imports inside functions included), no function over 80 lines, and each
extension point has its one registration (a source kind, an export format, a model name)."""

import ast
import inspect
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO

LAYERS = ("pipelines", "zoo", "export", "app")  # each may import only from itself and the ones before it
MAX_FUNCTION_LINES = 80
VENDORED = "Vendored unmodified below this header"  # the header line of a vendored generated module


def _modules():
    """`{module name: path}` of every module of the four packages."""
    out = {}
    for package in LAYERS:
        for folder, _, names in os.walk(os.path.join(REPO, package)):
            for name in names:
                if name.endswith(".py"):
                    parts = os.path.relpath(os.path.join(folder, name), REPO)[:-3].split(os.sep)
                    out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = os.path.join(folder, name)
    return out


def _imports(module, path, modules):
    """`[(imported module, line)]` for every import statement in the file, wherever it is (module level,
    inside a function or a class); `from package import name` counts as the submodule when there is one."""
    def resolve(name):
        parts = name.split(".")
        for k in range(len(parts), 0, -1):
            if ".".join(parts[:k]) in modules:
                return ".".join(parts[:k])
        return None

    found = []
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            found += [(resolve(a.name), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module
            if node.level:  # relative: from the module's package
                package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [node.module or ""])
                base = base.rstrip(".")
            for a in node.names:
                found.append((f"{base}.{a.name}" if f"{base}.{a.name}" in modules else resolve(base), node.lineno))
    return [(name, line) for name, line in found if name and name != module]


@pytest.fixture(scope="module")
def graph():
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("import os\n\ndef f():\n    from zoo import registry\n    import export.common\n")
    modules = {"zoo.registry": "", "export.common": "", "export": "", "probe": ""}
    assert sorted(_imports("probe", str(path), modules)) == [("export.common", 5), ("zoo.registry", 4)]


def test_no_module_imports_from_a_layer_above_it(graph):
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = [f"{m} (line {line}) imports {target}" for m, edges in graph.items() for target, line in edges
              if rank[target.split(".")[0]] > rank[m.split(".")[0]]]
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_no_import_cycles(graph):
    edges = {m: {t for t, _ in targets} for m, targets in graph.items()}
    state, cycles = {}, []

    def visit(node, stack):  # depth-first: a back edge to a module on the stack is a cycle
        state[node] = "open"
        for target in sorted(edges[node]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_function_is_over_80_lines():
    long = []
    for module, path in _modules().items():
        source = open(path).read()
        if module.startswith("app") or VENDORED in source[:1000]:
            continue  # the command line's parser is one long table; vendored generated code is as generated
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert not long, "split these functions:\n" + "\n".join(long)


def test_every_source_kind_is_declared_once_and_read_from_its_declaration():
    import pipelines
    from pipelines import registry

    registry.load_sources()
    kinds = set(registry.SOURCES)
    assert kinds >= {"text", "textfolder", "tabular", "series", "npz", "idx", "tfrecord", "folder", "tfds"}
    listed = pipelines.list_datasets()
    for kind, source in registry.SOURCES.items():
        assert source.loader.__module__.startswith("pipelines.sources."), kind
        assert f"{kind}:<{source.path.lower()}>" in listed
        assert set(source.options) <= set(inspect.signature(source.loader).parameters), kind
    with pytest.raises(ValueError, match="Unknown data kind 'nosuch'.*'text:FILE'"):
        pipelines.load_dataset("nosuch:file.csv")


def test_a_new_source_registers_in_one_place(tmp_path):
    """The README's example: a source declared in one module is loadable by `KIND:PATH` with its options
    checked, and listed."""
    import numpy as np

    import pipelines
    from pipelines.registry import SOURCES, option, register_source

    @register_source("lines_test", path="FILE", description="LABEL<TAB>TEXT per line",
                     options={"val_fraction": option("held-out share", type="float")})
    def line_file(path, *, val_fraction=0.0):
        rows = [line.rstrip("\n").split("\t") for line in open(path)]
        x = np.array([[len(t)] for _, t in rows], "float32")
        y = np.array([int(label) for label, _ in rows])
        return pipelines.from_arrays(x, y, name="lines", val_fraction=val_fraction)

    try:
        path = tmp_path / "a.txt"
        path.write_text("".join(f"{i % 2}\t{'x' * i}\n" for i in range(20)))
        data = pipelines.load_dataset(f"lines_test:{path}", val_fraction=0.25)
        assert data.sizes == {"train": 15, "val": 5} and data.spec["dataset"] == f"lines_test:{path}"
        assert "lines_test:<file>" in pipelines.list_datasets()
        with pytest.raises(ValueError, match=r"no option\(s\) \['sequence_length'\].*\['val_fraction'\]"):
            pipelines.load_dataset(f"lines_test:{path}", sequence_length=3)
    finally:
        del SOURCES["lines_test"]


def test_every_export_format_is_read_from_its_declaration():
    import export
    from app import bench
    from export.formats import FORMATS

    assert list(export.FORMATS) == ["saved_model", "tflite", "onnx", "web", "openvino"] and FORMATS is export.FORMATS
    assert [name for name, fmt in FORMATS.items() if fmt.default] == ["saved_model", "tflite", "onnx"]
    assert export.QUANTIZATIONS == ("fp32", "fp16", "dynamic", "int8")
    keys = [p.key for fmt in FORMATS.values() for p in fmt.planned("m", fmt.quantizations)]
    assert keys == ["saved_model", "tflite_fp32", "tflite_fp16", "tflite_dynamic", "tflite_int8", "onnx", "onnx_int8",
                    "web", "web_int8", "openvino", "openvino_int8"]
    assert bench.runtimes() == ("keras", "keras_jit", *keys)
    assert [p.path for p in FORMATS["tflite"].planned("m", ("fp32", "int8"))] == ["m.fp32.tflite", "m.int8.tflite"]


def test_the_layers_and_registries_hold_in_a_fresh_process():
    """Public entry points import on their own: the CLI's catalog commands without TensorFlow, `zoo` and
    `pipelines` without printing TensorFlow's start-up lines."""
    code = ("import sys, app.cli, pipelines, zoo\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
            "import export\n"
            "pipelines.digits(); zoo.mlp_tiny()\n"
            "assert 'tensorflow' in sys.modules\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = REPO
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    noise = [line for line in proc.stderr.splitlines() if "cpu_feature_guard" in line or "absl::InitializeLog" in line
             or "oneDNN custom operations" in line or "cuda drivers" in line]
    assert not noise, proc.stderr


def test_the_source_catalog_is_current():
    """`pipelines/sources.json` is what the registry holds (`python -m pipelines.registry` rewrites it)."""
    from pipelines import registry

    with open(registry.CATALOG) as f:
        assert json.load(f) == json.loads(json.dumps(registry.source_catalog()))


def test_a_new_export_format_registers_in_one_place(tmp_path):
    """A format declared in one place is written, listed in the manifest, verified against Keras, re-checked by
    `verify_export` and offered by `zoo bench` (here: the model as a .keras file, run by Keras)."""
    import keras
    import numpy as np

    import zoo
    from app import bench
    from export import export_model, verify_export
    from export.formats import FORMATS, Format, Planned, register_format

    @register_format
    class KerasFile(Format):
        name = "kerasfile_test"
        order = 99

        def planned(self, model_name, quantizations):
            return [Planned("kerasfile_test", f"{model_name}.copy.keras", "fp32")]

        def write(self, model, signature, out_dir, options):
            (key, path, _), = self.planned(signature.name, ())
            model.save(os.path.join(out_dir, path))
            return {key: {"format": self.name, "path": path}}

        def runner(self, entry, out_dir):
            loaded = keras.saving.load_model(os.path.join(out_dir, entry["path"]))
            return (lambda inputs: np.asarray(loaded.predict(*inputs.values(), verbose=0))), True

    try:
        model = zoo.mlp_tiny()
        report = export_model(model, str(tmp_path / "out"), formats=("tflite", "kerasfile_test"),
                              quantizations=("fp32",), verbose=False)
        assert report["passed"] and [r["file"] for r in report["results"]] == ["tflite_fp32", "kerasfile_test"]
        assert os.path.exists(tmp_path / "out" / f"{model.name}.copy.keras")
        assert verify_export(str(tmp_path / "out"), verbose=False)["passed"]
        assert "kerasfile_test" in bench.runtimes()
    finally:
        del FORMATS["kerasfile_test"]
