"""Publishing an export: its verified files move from the staging folder into the export folder, and a
publish that a killed process left half-done is completed by the next command that opens the folder.

`publish` first writes a journal (`.zoo-publish.json`: the staging folder and the files in publish order,
`zoo_export.json` last), then renames each file into place, then removes the journal. If the process dies
in between (SIGKILL, power loss), the folder holds some new files beside old ones; `complete` (run by
`zoo export`, `zoo verify` and `zoo predict` before they read the folder) finds the journal of a dead
process and moves the rest of that export's verified files in, so the folder is the new export as a whole.
"""

import json
import os

from pipelines import files

JOURNAL = ".zoo-publish.json"


def _move(stage, out_dir, paths):
    for rel in paths:
        source, target = os.path.join(stage, rel), os.path.join(out_dir, rel)
        if not os.path.lexists(source):  # moved before the process died
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(source):
            os.rename(source, target)  # a new SavedModel version folder: the format's `prepare` made sure it is free
        else:
            os.replace(source, target)


def publish(stage, out_dir, paths):
    """Move `paths` (relative, in order) from `stage` into `out_dir`, journaled."""
    journal = os.path.join(out_dir, JOURNAL)
    files.write_json(journal, {"pid": os.getpid(), "stage": os.path.relpath(stage, out_dir), "paths": list(paths)})
    _move(stage, out_dir, paths)
    os.remove(journal)


def complete(out_dir):
    """Finish the publish a killed export left in `out_dir`; True if there was one. A publish whose process
    still runs is left to it."""
    journal = os.path.join(out_dir, JOURNAL)
    if not os.path.exists(journal):
        return False
    try:
        with open(journal) as f:
            record = json.load(f)
        pid, stage, paths = int(record["pid"]), record["stage"], list(record["paths"])
    except (OSError, ValueError, KeyError, TypeError):
        os.remove(journal)  # written atomically, so only a foreign file can be unreadable: nothing to complete
        return False
    if pid != os.getpid() and files.alive(pid):
        return False
    stage_dir = os.path.join(out_dir, stage)
    if os.path.dirname(os.path.normpath(stage)) == "" and os.path.isdir(stage_dir):  # a folder inside out_dir only
        _move(stage_dir, out_dir, [p for p in paths if not os.path.isabs(p) and ".." not in p.split("/")])
        files.remove(stage_dir)
    os.remove(journal)
    return True
