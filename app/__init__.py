"""The application layer, the top of the four: `pipelines` (data) -> `zoo` (models, tasks, training)
-> `export` (files, verification) -> `app` (the `zoo` command line, `app.cli`; what each command
does, `app.commands`; `zoo bench`, `app.bench`). Modules here import from every layer below; no
module below imports from here (`tests/test_architecture.py` reads every import to check it).
"""
