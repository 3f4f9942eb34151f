"""The export formats: one registration point. A format is a `Format` subclass, decorated with
`@register_format`, in its own module of `export/` (`saved_model.py`, `tflite.py`, `onnx.py`); it
declares its name, its quantizations and its file names once, writes its files and runs them. The
exporter, `verify`, `zoo bench` and the command line read only these declarations:

- `FORMATS[name].planned(model_name, quantizations)`: the files it will write (`Planned`: the
  manifest key, the path in the export folder, the quantization); the exporter refuses to overwrite
  them, `zoo bench` offers each key as a runtime.
- `FORMATS[name].write(model, signature, out_dir, options)`: the manifest entries of the files it wrote.
- `FORMATS[entry["format"]].runner(entry, out_dir)`: `(run(inputs) -> outputs, takes_any_batch)`,
  which the export's verification, `zoo verify` and `zoo bench` use.

`load_formats()` imports every module of `export/`, so a new format registers by existing (see the
README's "Extending the zoo"). This module imports neither TensorFlow nor the formats.
"""

import collections
import importlib
import os
import pkgutil

Planned = collections.namedtuple("Planned", "key path quantization")

FORMATS = {}  # name -> Format instance, by `Format.order`


class Format:
    """The declaration every export format makes (subclass it, then `@register_format`)."""

    name = None
    order = 100  # position in `FORMATS`: the default export order, and the order of the report's rows
    quantizations = ("fp32",)  # the quantizations it can write ("fp32": the float file)
    default = True  # written when the export names no formats (False: only when asked for, e.g. `web`)
    publish_when_failed = True  # False: a file a server would pick up is withheld when verification fails
    withheld_note = None  # with publish_when_failed False: what the export prints when it withholds the files
    manifest_fields = ()  # extra top-level manifest fields it fills (`manifest_update`)

    def planned(self, model_name, quantizations):
        """The files it writes for these quantizations (those it does not write are left out)."""
        raise NotImplementedError

    def check_options(self, options):
        """Refuse a bad format option (`ExportError` naming it) before anything is written."""

    def prepare(self, out_dir, model_name, options):
        """Called once the export folder is locked, before writing: may fill `options` (e.g. a version)."""

    def write(self, model, signature, out_dir, options):
        raise NotImplementedError

    def runner(self, entry, out_dir):
        raise NotImplementedError

    def size(self, entry, out_dir):
        """Bytes of the file (or folder) a runtime loads for this entry."""
        path = os.path.join(out_dir, entry["path"])
        if os.path.isfile(path):
            return os.path.getsize(path)
        return sum(os.path.getsize(os.path.join(r, f)) for r, _, names in os.walk(path) for f in names)

    def manifest_update(self, model, signature):
        """`{field: value}` for the manifest (the fields named in `manifest_fields`)."""
        return {}

    def raw_inputs(self, entry):
        """What of the preprocessing the file does itself (e.g. "serving_text takes strings"), or None."""
        return None

    def usage(self, entry, manifest, folder):
        """A Markdown snippet that runs the file (for `MODEL_CARD.md`), or None."""
        return None


def register_format(cls):
    """Register a `Format` subclass under its `name` (class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Format)) or not cls.name:
        raise ValueError(f"@register_format takes a Format subclass with a name. Received: {cls!r}")
    if cls.name in FORMATS and type(FORMATS[cls.name]) is not cls:
        raise ValueError(f"An export format named {cls.name!r} is already registered.")
    FORMATS[cls.name] = cls()
    ordered = sorted(FORMATS.values(), key=lambda fmt: fmt.order)
    FORMATS.clear()
    FORMATS.update((fmt.name, fmt) for fmt in ordered)
    return cls


def load_formats():
    """Import every module of `export/` (each format module registers itself); returns `FORMATS`."""
    for module in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]):
        importlib.import_module(f"export.{module.name}")
    return FORMATS


def all_quantizations():
    """Every quantization some format writes, the format with the most of them first (LiteRT's order:
    fp32, fp16, dynamic, int8)."""
    formats = sorted(load_formats().values(), key=lambda fmt: -len(fmt.quantizations))
    return tuple(dict.fromkeys(q for fmt in formats for q in fmt.quantizations))


def runtimes(model_name="model"):
    """`{manifest key: (format name, quantization)}` of every file any format can write."""
    return {p.key: (fmt.name, p.quantization) for fmt in load_formats().values()
            for p in fmt.planned(model_name, fmt.quantizations)}


def runner(entry, out_dir):
    return FORMATS[entry["format"]].runner(entry, out_dir)
