"""Reading numeric columns from CSV / delimited text (optionally gzipped), NPY
and Parquet files, for the command line. Every problem raises
:class:`DataFileError` with a message that names the file, the line (or row)
and the column.

Decisions a reader must make about a text file, and the rules used
-------------------------------------------------------------------
Header row (``header=None``, automatic)
    The first row is a header if one of its fields is not a number. If every
    field is a whole number written without a decimal point or exponent
    (``2020,2021``), it is a header if its first field is empty and the others
    are not (``,2020,2021``: a row index, then the names) or if some column
    below it holds a number that is not written that way (``3.5``); otherwise
    it is data. The notes say what was decided. ``header=True`` / ``False``
    overrides the rule.
Row index column
    A header whose first field is empty (``,a,b``: what ``DataFrame.to_csv``
    and R's ``write.csv`` write for the row index or row names) marks the first
    column as row labels: it is not a feature, and column numbers do not
    count it.
Missing values
    An empty field, ``NA``, ``N/A``, ``NaN``, ``null`` or ``None`` (any case)
    is missing. A row with a missing value in a chosen column is an error
    naming the line, or is dropped with ``dropna=True``. Missing values in
    columns that were not chosen do not matter.
"""

import csv
import gzip
import io
import itertools
import os
import re
from dataclasses import dataclass

import numpy as np

__all__ = ["DataFileError", "DataTable", "read_data"]

#: Field texts (lower case, stripped) read as a missing value; pandas' defaults
#: for the common spellings.
MISSING_TOKENS = frozenset({"", "na", "n/a", "#n/a", "nan", "-nan", "null", "none",
                            "<na>"})

DROPNA_HINT = "--dropna drops rows with missing values"

_WHOLE_NUMBER = re.compile(r"[+-]?\d+\Z")


class DataFileError(ValueError):
    """A data file that cannot be read as numbers; the message says why."""


@dataclass
class DataTable:
    """What :func:`read_data` returns.

    Attributes
    ----------
    data : ndarray of shape (n_samples, n_columns), float64, finite
    names : list of str
        One per column of ``data``.
    rows : ndarray of shape (n_samples,), int64
        0-based position of each row of ``data`` among the file's data rows
        (equal to ``arange(n_samples)`` unless rows were dropped).
    notes : list of str
        Sentences about decisions made while reading (header, index column,
        dropped rows), for the user.
    """

    data: np.ndarray
    names: list
    rows: np.ndarray
    notes: list


def plural(count, word):
    """'1 row', '2 rows'."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _sniff_delimiter(line):
    for delimiter in (",", "\t", ";"):
        if delimiter in line:
            return delimiter
    return None if line.strip() and len(line.split()) > 1 else ","


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _column_indices(names, requested, path):
    """Indices of the requested columns (names, or 0-based numbers)."""
    if not requested:
        return list(range(len(names)))
    indices = []
    for column in requested:
        if column in names:
            indices.append(names.index(column))
        elif column.lstrip("-").isdigit() and -len(names) <= int(column) < len(names):
            indices.append(int(column) % len(names))
        else:
            shown = ", ".join(repr(n) for n in names[:12])
            shown += " ..." if len(names) > 12 else ""
            raise DataFileError(f"{path}: no column {column!r} (columns: {shown})")
    return indices


# ---- delimited text ---------------------------------------------------------------

class _TextColumns:
    """Parses the fields of chosen columns into floats, one row at a time.

    Missing fields become NaN; the first missing field and the first bad
    field of each column are remembered as (line, text). With ``strict``, a
    bad field raises at once (fail fast on a huge file); otherwise (the header
    is not decided yet, so the columns' names are not known) it is reported
    later by :meth:`raise_problems` if its column is chosen.
    """

    def __init__(self, positions, strict, describe):
        self.positions = positions
        self.strict = strict
        self.describe = describe            # (line, position, text, why) -> message
        self.values = []
        self.first_missing = {}
        self.first_bad = {}
        self.not_whole = set()              # positions holding a non-whole literal

    def add(self, fields, line, track_whole=False):
        row = []
        for j in self.positions:
            field = fields[j].strip()
            try:
                value = float(field)
            except ValueError:
                value = None
            if value is None or value != value:                  # not a number, or NaN
                if field.lower() in MISSING_TOKENS:
                    self.first_missing.setdefault(j, (line, field))
                    value = float("nan")
                else:
                    self._bad(j, line, field, "is not a number")
                    value = float("nan")
            elif value in (float("inf"), float("-inf")):
                self._bad(j, line, field, "is not a finite number")
            elif track_whole and not _WHOLE_NUMBER.match(field):
                self.not_whole.add(j)
            row.append(value)
        self.values.append(row)

    def prepend(self, fields, line):
        """Parse ``fields`` as the first row (a first row found to be data)."""
        values, missing, bad = self.values, self.first_missing, self.first_bad
        self.values, self.first_missing, self.first_bad = [], {}, {}
        self.add(fields, line)
        self.values += values
        for j, where in missing.items():
            self.first_missing.setdefault(j, where)
        for j, where in bad.items():
            self.first_bad.setdefault(j, where)

    def _bad(self, j, line, field, why):
        if self.strict:
            raise DataFileError(self.describe(line, j, field, why))
        self.first_bad.setdefault(j, (line, field, why))

    def raise_problems(self, chosen, dropna):
        """The earliest bad field (or missing one, without ``dropna``) of the
        chosen positions, as an error."""
        problems = [(self.first_bad[j][0], j, self.first_bad[j][1], self.first_bad[j][2])
                    for j in chosen if j in self.first_bad]
        if not dropna:
            problems += [(line, j, text, None) for j, (line, text) in
                         self.first_missing.items() if j in chosen]
        if problems:
            line, j, text, why = min(problems)
            raise DataFileError(self.describe(line, j, text, why))


def _open_text(path, compressed):
    """(text handle, raw binary handle whose tell() measures progress)."""
    raw = open(path, "rb")
    binary = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
    return io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""), raw


def _read_text(path, columns, progress, header, dropna, compressed):
    size = max(os.path.getsize(path), 1)
    line_number = [0]

    def data_lines(handle):
        for number, line in enumerate(handle, 1):
            if line.strip() and not line.lstrip().startswith("#"):
                line_number[0] = number
                yield line

    try:
        handle, raw = _open_text(path, compressed)
        with handle:
            lines = data_lines(handle)
            first_line = next(lines, None)
            if first_line is None:
                raise DataFileError(
                    f"{path}: no data (the file is empty or only comments)")
            first_line_number = line_number[0]
            delimiter = _sniff_delimiter(first_line)
            if delimiter is None:                          # whitespace separated
                rows = (line.split() for line in itertools.chain([first_line], lines))
            else:
                rows = csv.reader(itertools.chain([first_line], lines),
                                  delimiter=delimiter)
            first = [field.strip() for field in next(rows)]

            def report_progress(count):
                if progress is not None and count % 65536 == 0:
                    progress.update(raw.tell() // 1024, size // 1024 or 1, " KiB")

            table = _parse_rows(path, first, first_line_number, rows, line_number,
                                columns, header, dropna, report_progress)
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not a text (UTF-8) CSV file") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise DataFileError(f"{path}: not a readable gzip file ({exc})") from None
    except csv.Error as exc:
        raise DataFileError(f"{path}, line {line_number[0]}: {exc}") from None
    return table


def _first_row_is_header(first, header):
    """True, False, or None when only the columns below can tell (auto rule)."""
    if header is not None:
        return header
    fields = [f for f in first if f.lower() not in MISSING_TOKENS]
    if any(not _is_number(f) for f in fields):
        return True
    if fields and all(_WHOLE_NUMBER.match(f) for f in fields):
        if len(first) > 1 and first[0] == "" and all(first[1:]):
            return True                  # ",2020,2021": pandas' index, then names
        return None
    return False


def _parse_rows(path, first, first_line, rows, line_number, columns, header, dropna,
                report_progress):
    width = len(first)
    is_header = _first_row_is_header(first, header)
    # The name of every position in a row, once the first row's role is known.
    position_names = [list(first) if is_header else [str(j) for j in range(width)]]
    hint = "" if columns or width == 1 else \
        " (all columns were read: choose some with --column NAME)"

    def describe(line, j, text, why):
        where = f"{path}, line {line}, column {position_names[0][j]!r}"
        if why is None:
            if _is_number(text):                              # NaN spelled as a number
                return (f"{where}: {text!r} is not a finite number (a missing value; "
                        f"{DROPNA_HINT})")
            return f"{where}: missing value {text!r} ({DROPNA_HINT})"
        return f"{where}: {text[:40]!r} {why}{hint}"

    if is_header is None:                # undecided: parse every column
        features = chosen = None
        parsed = _TextColumns(list(range(width)), strict=False, describe=describe)
    else:
        features = _feature_columns(first, is_header)
        chosen = _chosen_positions(features, columns, path)
        parsed = _TextColumns(chosen, strict=True, describe=describe)
        if not is_header:
            parsed.add(first, first_line)
    for count, fields in enumerate(rows, 1):
        if len(fields) != width:
            raise DataFileError(f"{path}, line {line_number[0]}: {len(fields)} fields, "
                                f"expected {width}")
        parsed.add(fields, line_number[0], track_whole=is_header is None)
        report_progress(count)

    notes = []
    if is_header is None:                # decide now, from the columns below
        shown = ",".join(first)
        is_header = bool(parsed.not_whole)
        if is_header:
            position_names[0] = list(first)
            notes.append(f"first row ({shown}) taken as a header: its values are whole "
                         "numbers and the columns below are not (--no-header reads it "
                         "as data)")
        else:
            notes.append(f"first row ({shown}) read as data, not as a header "
                         "(--header reads it as one)")
            parsed.prepend(first, first_line)
            position_names[0] = [str(j) for j in range(width)]
        features = _feature_columns(first, is_header)
        chosen = _chosen_positions(features, columns, path)
    if is_header and features[1][:1] == [1]:
        notes.append("first column (unnamed) taken as the row index, as pandas and R "
                     "write it: not fitted")
    parsed.raise_problems(chosen, dropna)
    if not parsed.values:
        raise DataFileError(f"{path}: a header but no data rows")
    index = [parsed.positions.index(j) for j in chosen]
    data = np.array(parsed.values, dtype=float).reshape(len(parsed.values), -1)[:, index]
    return data, [position_names[0][j] for j in chosen], notes


def _feature_columns(first, is_header):
    """(feature names, their positions in a row). The unnamed first column of
    a header with names after it is a row index, not a feature."""
    if not is_header:
        return [str(j) for j in range(len(first))], list(range(len(first)))
    positions = list(range(len(first)))
    if len(first) > 1 and first[0] == "" and any(first[1:]):
        positions = positions[1:]
    return [first[j] for j in positions], positions


def _chosen_positions(features, columns, path):
    names, positions = features
    return [positions[i] for i in _column_indices(names, columns, path)]


# ---- NPY and Parquet --------------------------------------------------------------

def _read_npy(path, columns):
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise DataFileError(f"{path}: not a readable .npy file ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise DataFileError(f"{path}: not a .npy array")
    if arr.dtype.names:                               # structured array: named fields
        names = list(arr.dtype.names)
        indices = _column_indices(names, columns, path)
        picked = [names[j] for j in indices]
        for name in picked:
            if arr.dtype[name].kind not in "biuf":
                raise DataFileError(f"{path}: column {name!r} is not numeric "
                                    f"(dtype {arr.dtype[name]})")
        data = np.column_stack([arr[name].astype(float).ravel() for name in picked])
        return data, picked
    if arr.dtype.kind not in "biuf":
        raise DataFileError(f"{path}: the array holds {arr.dtype}, not numbers")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataFileError(f"{path}: expected a 1-D or 2-D array, got shape {arr.shape}")
    names = [str(j) for j in range(arr.shape[1])]
    indices = _column_indices(names, columns, path)
    return np.asarray(arr[:, indices], dtype=float), [names[j] for j in indices]


def _read_parquet(path, columns):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataFileError("reading Parquet needs pyarrow: pip install pyarrow") \
            from None
    try:
        schema = pq.read_schema(path)
    except Exception as exc:                      # pyarrow's own error classes
        raise DataFileError(f"{path}: not a readable Parquet file ({exc})") from None
    names = list(schema.names)
    picked = [names[j] for j in _column_indices(names, columns, path)]
    table = pq.read_table(path, columns=picked)
    data = np.empty((table.num_rows, len(picked)))
    for c, name in enumerate(picked):
        column = table.column(name)
        values = column.to_numpy()            # nulls of a numeric column become NaN
        if values.dtype.kind not in "biuf":
            raise DataFileError(f"{path}: column {name!r} is not numeric ({column.type})")
        data[:, c] = values
    return data, picked


def _check_array_values(path, data, names, dropna):
    """Missing (NaN) cells of an NPY or Parquet table: refused, naming the row,
    or their rows dropped. Infinities are always refused."""
    infinite = np.isinf(data)
    if infinite.any():
        i, c = np.argwhere(infinite)[0]
        raise DataFileError(f"{path}, row {i}, column {names[c]!r}: {data[i, c]} is "
                            "not a finite number")
    missing = np.isnan(data)
    if missing.any() and not dropna:
        i, c = np.argwhere(missing)[0]
        count = int(missing[:, c].sum())
        raise DataFileError(f"{path}, row {i}, column {names[c]!r}: missing value "
                            f"(the column has {plural(count, 'missing value')}; "
                            f"{DROPNA_HINT})")


# ---- entry point ------------------------------------------------------------------

def _kind(path):
    """('npy' | 'parquet' | 'text', gzipped?) from the file name."""
    name = os.fspath(path).lower()
    compressed = name.endswith(".gz")
    ext = os.path.splitext(name[:-3] if compressed else name)[1]
    kind = {".npy": "npy", ".parquet": "parquet", ".pq": "parquet"}.get(ext, "text")
    if compressed and kind != "text":
        raise DataFileError(f"{path}: gzipped {ext} files are not read; decompress it, "
                            "or gzip only delimited text (.csv.gz)")
    return kind, compressed


def read_data(path, columns=None, progress=None, *, header=None, dropna=False):
    """Numeric columns of a CSV (or gzipped CSV), NPY or Parquet file.

    Parameters
    ----------
    path : str
        ``.npy`` (NumPy), ``.parquet``/``.pq`` (needs pyarrow); anything else
        is read as delimited text, gzip-compressed if the name ends in
        ``.gz``: comma, tab, semicolon or whitespace separated, optional header
        row, lines starting with ``#`` ignored.
    columns : list of str, optional
        Column names, or 0-based column numbers (a row-index column is not
        counted); default every column.
    progress : object with ``update(done, total, unit)``, optional
        Told how much of a text file has been read (``cyem.cli.Progress``).
    header : bool or None, default None
        Text files: whether the first row is a header; None applies the rule
        in the module notes. Must be None for NPY and Parquet files.
    dropna : bool, default False
        Drop the rows with a missing value in a chosen column, instead of
        refusing the file (the error names the first such line or row).

    Returns
    -------
    DataTable
        ``data`` (float64, finite), ``names``, ``rows`` (the data-row
        positions kept) and ``notes``.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "years.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write(",2020,2021\\n0,1.5,2.5\\n1,,3.5\\n2,4.5,5.5\\n")
    >>> table = read_data(path, dropna=True)
    >>> table.names, table.data.tolist(), table.rows.tolist()
    (['2020', '2021'], [[1.5, 2.5], [4.5, 5.5]], [0, 2])
    """
    if not os.path.isfile(path):
        reason = "is a directory" if os.path.isdir(path) else "no such file"
        raise DataFileError(f"cannot read {path!r}: {reason}")
    kind, compressed = _kind(path)
    if kind != "text" and header is not None:
        raise DataFileError(f"{path}: a header choice (--header / --no-header) applies "
                            "to delimited text files only")
    notes = []
    if kind == "npy":
        data, names = _read_npy(path, columns)
        _check_array_values(path, data, names, dropna)
    elif kind == "parquet":
        data, names = _read_parquet(path, columns)
        _check_array_values(path, data, names, dropna)
    else:
        data, names, notes = _read_text(path, columns, progress, header, dropna,
                                        compressed)
    if data.shape[0] == 0:
        raise DataFileError(f"{path}: no data rows")
    rows = np.arange(data.shape[0])
    if dropna:
        keep = ~np.isnan(data).any(axis=1)
        if not keep.all():
            dropped = int(data.shape[0] - keep.sum())
            notes.append(f"dropped {plural(dropped, 'row')} with missing values "
                         "(--dropna)")
            data, rows = data[keep], rows[keep]
        if data.shape[0] == 0:
            raise DataFileError(f"{path}: every row has a missing value")
    return DataTable(data, names, rows, notes)
