"""Reading numeric columns from CSV / delimited text, NPY and Parquet files,
for the command line. Every problem raises :class:`DataFileError` with a
message that names the file, the line and the column."""

import csv
import itertools
import os

import numpy as np

__all__ = ["DataFileError", "read_data"]


class DataFileError(ValueError):
    """A data file that cannot be read as numbers; the message says why."""


def _finite_float(text, where, hint=""):
    field = text.strip()
    if not field:
        raise DataFileError(f"{where}: missing value{hint}")
    try:
        value = float(field)
    except ValueError:
        raise DataFileError(f"{where}: {field[:40]!r} is not a number{hint}") from None
    if not np.isfinite(value):
        raise DataFileError(f"{where}: {field!r} is not a finite number{hint}")
    return value


def _sniff_delimiter(line):
    for delimiter in (",", "\t", ";"):
        if delimiter in line:
            return delimiter
    return None if line.strip() and len(line.split()) > 1 else ","


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


def _read_csv(path, columns, progress):
    size = max(os.path.getsize(path), 1)
    where = [0, 0]                        # line number, characters read so far

    def data_lines(handle):
        for number, line in enumerate(handle, 1):
            where[1] += len(line)
            if line.strip() and not line.lstrip().startswith("#"):
                where[0] = number
                yield line

    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            lines = data_lines(handle)
            first_line = next(lines, None)
            if first_line is None:
                raise DataFileError(
                    f"{path}: no data (the file is empty or only comments)")
            delimiter = _sniff_delimiter(first_line)
            if delimiter is None:                          # whitespace separated
                rows = (line.split() for line in itertools.chain([first_line], lines))
            else:
                rows = csv.reader(itertools.chain([first_line], lines),
                                  delimiter=delimiter)
            first = [field.strip() for field in next(rows)]
            has_header = not all(_is_number(field) for field in first)
            names = first if has_header else [str(j) for j in range(len(first))]
            indices = _column_indices(names, columns, path)
            if not has_header:                 # the first row is data: parse it too
                rows = itertools.chain([first], rows)
            values = []
            hint = "" if columns or len(names) == 1 else \
                " (all columns were read: choose some with --column NAME)"
            for count, fields in enumerate(rows, 1):
                if len(fields) != len(names):
                    raise DataFileError(f"{path}, line {where[0]}: {len(fields)} fields, "
                                   f"expected {len(names)}")
                values.append([_finite_float(fields[j], f"{path}, line {where[0]}, "
                                                        f"column {names[j]!r}", hint)
                               for j in indices])
                if progress is not None and count % 65536 == 0:
                    progress.update(where[1] // 1024, size // 1024 or 1, " KiB")
    except UnicodeDecodeError:
        raise DataFileError(f"{path}: not a text (UTF-8) CSV file") from None
    except csv.Error as exc:
        raise DataFileError(f"{path}, line {where[0]}: {exc}") from None
    if not values:
        raise DataFileError(f"{path}: a header but no data rows")
    return np.array(values, dtype=float), [names[j] for j in indices]


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


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
        if column.null_count:
            raise DataFileError(
                f"{path}: column {name!r} has {column.null_count} missing values")
        values = column.to_numpy()
        if values.dtype.kind not in "biuf":
            raise DataFileError(f"{path}: column {name!r} is not numeric ({column.type})")
        data[:, c] = values
    return data, picked


def read_data(path, columns=None, progress=None):
    """Numeric columns of a CSV, NPY or Parquet file.

    Parameters
    ----------
    path : str
        ``.npy`` (NumPy), ``.parquet``/``.pq`` (needs pyarrow), anything else is
        read as delimited text: comma, tab, semicolon or whitespace separated,
        optional header row, lines starting with ``#`` ignored.
    columns : list of str, optional
        Column names, or 0-based column numbers; default every column.
    progress : object with ``update(done, total, unit)``, optional
        Told how much of a text file has been parsed (``cyem.cli.Progress``).

    Returns
    -------
    data : ndarray of shape (n_samples, n_columns), float64, finite
    names : list of str
    """
    if not os.path.isfile(path):
        reason = "is a directory" if os.path.isdir(path) else "no such file"
        raise DataFileError(f"cannot read {path!r}: {reason}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        data, names = _read_npy(path, columns)
    elif ext in (".parquet", ".pq"):
        data, names = _read_parquet(path, columns)
    else:
        data, names = _read_csv(path, columns, progress)
    if data.shape[0] == 0:
        raise DataFileError(f"{path}: no data rows")
    if not np.isfinite(data).all():
        raise DataFileError(f"{path}: the data contain NaN or infinite values")
    return data, names
