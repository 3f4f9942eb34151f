"""Reading a user's table: CSV, TSV or JSON Lines (also `.gz`) — its format, rows, columns,
header and class names. Shared by the `text:` and `tabular:` sources."""

import csv
import os

import numpy as np

_TEXT_FORMATS = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl"}


def text_format(path, delimiter):
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder, not a CSV, TSV or JSON Lines file: pass the file (class folders of "
                         "text files are read by textfolder:, of images by folder:).")
    if delimiter:
        return {"tab": "\t", "\\t": "\t", "comma": ","}.get(delimiter, delimiter)
    stem = path[:-3] if path.endswith(".gz") else path
    ext = os.path.splitext(stem)[1].lower()
    if ext not in _TEXT_FORMATS:
        raise ValueError(f"Cannot tell the format of {path!r} from its extension: name it .csv, .tsv or .jsonl "
                         "(optionally .gz), or pass delimiter= (--data-arg delimiter=tab).")
    return _TEXT_FORMATS[ext]


def open_text(path):
    import gzip

    if not os.path.isfile(path):
        raise ValueError(f"{path!r} is a folder, not a text file." if os.path.isdir(path) else
                         f"Text file {path!r} does not exist.")
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name
    return gzip.open(path, "rt", encoding="utf-8-sig", newline="") if path.endswith(".gz") else \
        open(path, encoding="utf-8-sig", newline="")


FIELD_LIMIT = 16 * 2**20  # characters in one CSV/TSV field (Python's default, 128 KB, is shorter than some texts)
csv.field_size_limit(FIELD_LIMIT)


def _check_delimiter(path, header, fmt):
    """A header read as one field that holds another delimiter: the file is `;`- (or `|`-) separated."""
    if len(header) == 1:
        for other in (";", "|", "\t", ","):
            if other != fmt and other in header[0]:
                shown = {"\t": "tab"}.get(other, other)
                raise ValueError(f"{path!r} line 1 is one field holding {shown!r}: the file looks {shown!r}-separated. "
                                 f"Pass --data-arg delimiter='{shown}' (delimiter={shown!r}).")


def first_bad_line(path):
    """The number of the first line that is not UTF-8 (the decoder reads ahead in blocks, so its position
    does not say which line)."""
    import gzip

    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        for number, line in enumerate(f, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return "?"


def iter_rows(path, fmt):
    """`(line number, row)` of a CSV/TSV (lists) or JSON Lines (dicts) file, streamed."""
    import json

    number = 0
    with open_text(path) as f:
        try:
            if fmt == "jsonl":
                for number, line in enumerate(f, start=1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{path!r} line {number}: not a JSON object ({err.msg}). JSON Lines "
                                         "files hold one object per line.") from None
                    if not isinstance(row, dict):
                        raise ValueError(f"{path!r} line {number}: a JSON {type(row).__name__}, not an object "
                                         "({\"text\": ..., \"label\": ...}).")
                    yield number, row
            else:
                # TSV files (GLUE's, SST-2's) are not quoted: a quote is part of the text there.
                reader = csv.reader(f, delimiter=fmt, quoting=csv.QUOTE_NONE if fmt == "\t" else csv.QUOTE_MINIMAL)
                number = 0
                for row in reader:
                    number = reader.line_num
                    if row:
                        if number == 1:
                            _check_delimiter(path, row, fmt)
                        yield number, row
        except UnicodeDecodeError as err:
            raise ValueError(f"{path!r} is not UTF-8 text ({err.reason} at line {first_bad_line(path)}). Re-save it "
                             "as UTF-8.") from None
        except csv.Error as err:
            raise ValueError(f"{path!r} line {number + 1}: {err}. A field of more than {FIELD_LIMIT // 2**20} MB is "
                             "usually a quote left open; close it (or split the text).") from None
        except (OSError, EOFError) as err:  # a truncated .gz
            raise ValueError(f"{path!r} could not be read to the end ({err}). Re-copy the file.") from None


def refuse_repeated_header(path, line):
    """Raise for a data row that repeats the header (files concatenated with their headers)."""
    raise ValueError(f"{path!r} line {line} repeats the header row (files concatenated with their headers?): "
                     "as data it would turn every column into text and add a class named after a column. "
                     "Delete that line.")


def column_index(spec, header, path, what):
    """Index of a column given by name or position (int or digit string)."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.lstrip("-").isdigit()):
        index = int(spec)
        if header is not None and not -len(header) <= index < len(header):
            raise ValueError(f"{what}={spec!r}: {path!r} has {len(header)} columns {header}.")
        return index
    if header is None:
        raise ValueError(f"{what}={spec!r} names a column but {path!r} is read without a header (header=False): "
                         "give the column's position (0, 1, ...) instead.")
    if spec not in header:
        import difflib

        close = difflib.get_close_matches(str(spec), header, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{what}={spec!r} is not a column of {path!r}; its header is {header}.{hint}")
    return header.index(spec)


def looks_numeric(value):
    try:
        float(value)
        return True
    except (TypeError, ValueError):
        return False


def read_rows(path, delimiter=None):
    """`(format, [(line number, row), ...])` of a CSV/TSV/JSONL file (also `.gz`); an empty file is refused."""
    fmt = text_format(path, delimiter)
    rows = list(iter_rows(path, fmt))
    if not rows:
        raise ValueError(f"{path!r} holds no rows.")
    return fmt, rows


def first_row_is_header(rows):
    """Whether the first row names the columns: its value in the label-like column (the one with the
    fewest distinct values below it) never occurs below it, or csv.Sniffer says so."""
    first = rows[0][1]
    # Rows equal to the first are left out: a header repeated further down (concatenated files) is refused
    # later with its line, and must not make the header look like data here.
    sample = [r for _, r in rows[1:2001] if r != first]
    if not sample:
        return False
    columns = [[r[i] for r in sample if i < len(r)] for i in range(len(first))]
    label = min(range(len(first)), key=lambda i: len(set(columns[i])))
    if len(set(columns[label])) <= max(1, len(sample) // 2):
        return first[label] not in set(columns[label])
    if len(sample) < 20:  # too few rows to compare: short, non-numeric names, unseen below
        return all(f.strip() and not looks_numeric(f) and len(f) <= 40 and f.count(" ") <= 2 for f in first) \
            and all(first[i] not in set(columns[i]) for i in range(len(first)))
    try:
        return csv.Sniffer().has_header("\n".join(",".join(r) for _, r in rows[:50]))
    except csv.Error:
        return False


def guess_columns(sample, width):
    """(text column, label column) of a sample of rows: the text has the longest values, the label the
    fewest distinct ones among the others."""
    if width < 2:
        raise ValueError("A text file needs a text and a label column; this one has one column.")
    columns = [[r[i] for r in sample if i < len(r)] for i in range(width)]
    text = max(range(width), key=lambda i: np.mean([len(v) for v in columns[i]] or [0]))
    label = min((i for i in range(width) if i != text), key=lambda i: len(set(columns[i])))
    return text, label


def read_class_names(class_names):
    """Class names from a list, a comma-separated string or a file with one name per line."""
    if class_names is None:
        return None
    if isinstance(class_names, str):
        if os.path.isfile(class_names):
            with open(class_names, encoding="utf8") as f:
                class_names = [line.strip() for line in f if line.strip()]
        else:
            class_names = [c.strip() for c in class_names.split(",") if c.strip()]
    names = [str(c) for c in class_names]
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError(f"class_names needs two or more distinct names. Received: class_names={names!r}")
    return names
