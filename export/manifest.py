"""`zoo_export.json`: what an export folder holds, with versions and hashes.

Every file the export wrote is hashed (SHA-256; a SavedModel folder over
its files and variables), and so are `model.keras` and `verify_inputs.npz`,
so `zoo verify` can tell whether anything changed since the export.
"""

import datetime
import hashlib
import json
import os

from export import cpu
from export.common import ExportError
from pipelines import files
from pipelines.paths import inside

MANIFEST = "zoo_export.json"
REPORT = "report.json"
PACKAGES = ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime", "ai-edge-litert", "numpy")


def versions():
    """Installed versions of the packages an export depends on (and zoo's)."""
    import importlib.metadata as md

    import zoo

    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    out["zoo"] = zoo.__version__
    return out


def sha256(path):
    """Hash of a file, or of a folder (its relative file names and contents, sorted)."""
    h = hashlib.sha256()
    if os.path.isdir(path):
        for root, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                full = os.path.join(root, name)
                h.update(os.path.relpath(full, path).encode() + b"\0")
                h.update(sha256(full).encode())
        return h.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(signature, *, entries, labels, preprocessing, skipped, references, **format_fields):
    """The manifest; `format_fields` are the formats' own top-level fields (`Format.manifest_fields`)."""
    return {
        "name": signature.name, "task": signature.task.name,
        "inputs": signature.describe_inputs(), "output": signature.output, "outputs": list(signature.outputs),
        **format_fields, "labels": labels, "preprocessing": preprocessing or {},
        "files": entries, "references": references, "skipped": skipped, "versions": versions(),
        "verified_on": cpu.host(),  # the CPU the export's verification ran on (int8 kernels differ by class)
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write(out_dir, manifest):
    files.write_json(os.path.join(out_dir, MANIFEST), manifest)


def read(out_dir):
    path = os.path.join(out_dir, MANIFEST)
    if not os.path.exists(path):
        raise ExportError(f"{out_dir!r} is not a zoo export folder (no {MANIFEST}).")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as err:
        raise ExportError(f"{path} cannot be read ({err}); export the model again.") from err
    entries = {**manifest.get("references", {}), **manifest.get("files", {})}
    for key, entry in entries.items():  # every recorded file inside the folder (the path policy: pipelines.paths)
        if isinstance(entry, dict) and "path" in entry and not inside(out_dir, os.path.join(out_dir, entry["path"])):
            raise ExportError(f"{path}: the entry {key!r} points outside the export folder ({entry['path']!r}); an "
                              "export reads only its own files. Export the model again.")
        for rel in (entry.get("assets") or {}) if isinstance(entry, dict) else ():
            if not inside(out_dir, os.path.join(out_dir, str(entry.get("bundle", "")), rel)):
                raise ExportError(f"{path}: the entry {key!r} lists a file outside the export folder ({rel!r}); an "
                                  "export reads only its own files. Export the model again.")
    return manifest


def changed_files(out_dir, manifest):
    """Keys of the files (and references) whose hash differs from the one recorded."""
    recorded = dict(manifest.get("references", {}))
    recorded.update({k: e for k, e in manifest["files"].items()})
    changed = [k for k, e in recorded.items()
               if "sha256" in e and sha256(os.path.join(out_dir, e["path"])) != e["sha256"]]
    for key, entry in manifest["files"].items():  # a bundle's other files (the web format's page and scripts)
        for rel, digest in (entry.get("assets") or {}).items():
            path = os.path.join(out_dir, entry["bundle"], rel)
            if (not os.path.isfile(path) or sha256(path) != digest) and key not in changed:
                changed.append(key)
    return changed
