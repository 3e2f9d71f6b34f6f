"""The results of `taskrel matrix` in Python (layout: io/result_store.h).

relatedness.h5: root attributes `encoders`, `references`, `targets` (the axes), `fill_value`, and the job's
attributes (`name`, `job`, `spec_hash`, `store`, `triples`, `result_options`, ...); one float64
[encoder, reference, target] dataset per scalar quantity (booleans as 0/1); uint8 masks `done` (1:
finished ok) and `failed`; the fitted B (K_T x K_R) at /B/<encoder>/<reference>/<target> and D (K_R) at
/D/... for finished triples. Cells without a result hold fill_value (0), never NaN: that is what the C++
writer promises, and why load_matrix turns every cell that is not `done` into NaN instead of comparing
values with fill_value (0 is also a real value, e.g. of a boolean quantity).

relatedness.csv: one row per recorded triple: encoder, reference, target, status (ok | failed), error,
the terms, then every scalar of the result flattened with '_'; numbers as JSON numbers, booleans as
true/false, empty fields where a triple has no value (failed rows have only the first five).
"""

import collections
import os

import numpy as np

from taskrel_py.errors import InputError

AXES = ("encoder", "reference", "target")
KEY_COLUMNS = ("encoder", "reference", "target")
Transform = collections.namedtuple("Transform", ["B", "D"])  # B: K_T x K_R, B[k, j] = P(target k | reference j)


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _attribute(value):
    """HDF5 attribute -> plain Python (str, float, int, list of str)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return [_attribute(v) for v in value.tolist()] if value.dtype.kind in "OSU" else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _open(path):
    import h5py
    if not os.path.exists(path):
        raise InputError(f"{path}: does not exist")
    if not h5py.is_hdf5(path):
        raise InputError(f"{path}: not an HDF5 file")
    f = h5py.File(path, "r")
    missing = [a for a in ("encoders", "references", "targets") if a not in f.attrs]
    if missing or "done" not in f:
        f.close()
        raise InputError(f"{path}: not a taskrel relatedness.h5 (missing {', '.join(missing or ['/done'])})")
    return f


def _axes(f):
    return [[_text(v) for v in f.attrs[a]] for a in ("encoders", "references", "targets")]


def _read_transforms(f):
    out = {}
    for name in ("B", "D"):
        if name not in f:
            continue
        for e, eg in f[name].items():
            for r, rg in eg.items():
                for t, data in rg.items():
                    out.setdefault((e, r, t), {})[name] = data[...]
    return {key: Transform(v.get("B"), v.get("D")) for key, v in out.items()}


def load_transforms(path):
    """{(encoder, reference, target): Transform(B, D)} for every finished triple of relatedness.h5."""
    with _open(path) as f:
        return _read_transforms(f)


def load_matrix(path, transforms=True):
    """relatedness.h5 as an xarray.Dataset with dims (encoder, reference, target).

    One float64 variable per quantity, NaN where the triple is not done (failed, not run yet, or a
    self pair); bool variables `done` and `failed`; the file's other root attributes as attrs. With
    `transforms` and when every B has the same shape (all targets share K_T, all references K_R),
    also variables B (encoder, reference, target, target_class, reference_class) and D (...,
    reference_class), NaN where absent; otherwise use load_transforms()."""
    import xarray as xr
    import h5py
    with _open(path) as f:
        encoders, references, targets = _axes(f)
        shape = (len(encoders), len(references), len(targets))
        done = f["done"][...].astype(bool)
        failed = f["failed"][...].astype(bool) if "failed" in f else np.zeros(shape, bool)
        if done.shape != shape:
            raise InputError(f"{path}: /done has shape {done.shape}, the axes give {shape}")
        variables = {}
        for name, data in f.items():
            if not isinstance(data, h5py.Dataset) or name in ("done", "failed"):
                continue
            if data.shape != shape:
                raise InputError(f"{path}: /{name} has shape {data.shape}, the axes give {shape}")
            values = data[...].astype(np.float64)
            values[~done] = np.nan
            variables[name] = (AXES, values)
        variables["done"] = (AXES, done)
        variables["failed"] = (AXES, failed)
        attrs = {k: _attribute(v) for k, v in f.attrs.items() if k not in ("encoders", "references", "targets")}
        fitted = _read_transforms(f) if transforms else {}
    b_shapes = {v.B.shape for v in fitted.values() if v.B is not None}
    d_shapes = {v.D.shape for v in fitted.values() if v.D is not None}
    if len(b_shapes) == 1 and len(d_shapes) == 1:
        (kt, kr), = b_shapes
        B = np.full(shape + (kt, kr), np.nan)
        D = np.full(shape + (kr,), np.nan)
        index = [{n: i for i, n in enumerate(axis)} for axis in (encoders, references, targets)]
        for (e, r, t), tr in fitted.items():
            cell = (index[0][e], index[1][r], index[2][t])
            if tr.B is not None:
                B[cell] = tr.B
            if tr.D is not None:
                D[cell] = tr.D
        variables["B"] = (AXES + ("target_class", "reference_class"), B)
        variables["D"] = (AXES + ("reference_class",), D)
    return xr.Dataset(variables, coords={"encoder": encoders, "reference": references, "target": targets},
                      attrs=attrs)


def load_results(csv_path):
    """relatedness.csv as a DataFrame with proper dtypes: encoder/reference/target/status as category,
    error as pandas string (<NA> when empty), true/false columns as bool (nullable `boolean` when some
    rows have no value, e.g. failed ones), numeric columns as float64 (NaN when empty), any other text
    column as category."""
    import pandas as pd
    if not os.path.exists(csv_path):
        raise InputError(f"{csv_path}: does not exist")
    try:
        raw = pd.read_csv(csv_path, dtype=str, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise InputError(f"{csv_path}: cannot read as CSV ({e})") from None
    missing = [c for c in KEY_COLUMNS + ("status",) if c not in raw.columns]
    if missing:
        raise InputError(f"{csv_path}: not a taskrel relatedness.csv (no column {', '.join(missing)})")
    out = {}
    for column in raw.columns:
        text = raw[column]
        present = text != ""
        if column in KEY_COLUMNS:
            out[column] = pd.Categorical(text)
        elif column == "status":
            out[column] = pd.Categorical(text, categories=sorted(set(text) | {"ok", "failed"}))
        elif column == "error":
            out[column] = text.where(present, None).astype("string")
        elif present.any() and text[present].isin(["true", "false"]).all():
            values = text.map({"true": True, "false": False})
            out[column] = values.astype(bool) if present.all() else values.astype("boolean")
        else:
            try:  # Python's float(): exact to the last bit (pandas' fast parser may miss by an ulp)
                out[column] = text.where(present, "nan").astype(np.float64)
            except ValueError:  # some value is not a number: a text column
                out[column] = pd.Categorical(text.where(present, None))
    return pd.DataFrame(out, columns=raw.columns)
