"""The zoo's one path policy for what it reads inside a folder (a data root, an archive, an export folder).

- A symbolic link is followed when it resolves inside the folder (a class folder linked from elsewhere in the
  same data set), and refused, with the link and where it points named, when it resolves outside: a data set
  or an export reads nothing outside its own folder (`/etc/passwd` linked into a class folder is not a review).
- In an archive, members with an absolute path or a `..` part, and links, are refused by name (an archive
  cannot say where a link would resolve once extracted); nothing is silently skipped or renamed.
- A path an export's `zoo_export.json` records must resolve inside the export folder.

Example:

```python
from pipelines.paths import check_inside, walk_files
names = walk_files("reviews", (".txt",))      # relative names, links inside followed, outside refused
check_inside("exports/mlp", "exports/mlp/mlp.tflite", "an export")
```
"""

import os
import posixpath


def inside(root, path):
    """True when `path` (links resolved) lies within `root` (links resolved)."""
    root, real = os.path.realpath(root), os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def check_inside(root, path, what):
    """Raise a `ValueError` naming `path` when it resolves outside `root` (`what`: who reads it)."""
    if not inside(root, path):
        raise ValueError(f"{path!r} resolves to {os.path.realpath(path)!r}, outside {root!r}: {what} reads only files "
                         "inside its own folder. Copy the file into the folder instead of linking it, or remove it.")
    return path


def walk_files(root, extensions):
    """Relative POSIX names of the files under `root` ending with one of `extensions`, in sorted walk order.
    Links (to files or folders) are followed when they resolve inside `root`, refused when outside; a folder
    reached twice through links is read once."""
    names, seen = [], set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a link back to a folder already read (or a loop)
            subfolders[:] = []
            continue
        seen.add(real)
        check_inside(root, folder, "a data folder")
        subfolders.sort()
        rel = os.path.relpath(folder, root)
        for name in sorted(files):
            if name.endswith(extensions):
                check_inside(root, os.path.join(folder, name), "a data folder")
                names.append(name if rel == "." else f"{rel}/{name}".replace(os.sep, "/"))
    return names


def member_name(archive, member):
    """The archive member's relative name (a leading `./` dropped); a `ValueError` for a link or a name that is
    absolute or climbs out with `..`."""
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    if member.issym() or member.islnk():
        raise ValueError(f"{archive!r} holds a link {member.name!r} -> {member.linkname!r}: an archive's links are "
                         "not followed (where they resolve is not known). Re-create the archive with the files "
                         "themselves (tar --dereference).")
    if name.startswith("/") or ".." in posixpath.normpath(name).split("/") or posixpath.isabs(name):
        raise ValueError(f"{archive!r} holds a member {member.name!r} outside the archive's folder (an absolute "
                         "path or a '..' part). Re-create the archive with relative paths.")
    return name
