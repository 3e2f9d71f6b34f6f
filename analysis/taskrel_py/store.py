"""The embedding store (DESIGN.md section 3) from Python: listing it, and writing splits safely.

Layout (what `taskrel inspect` / `relate` / `matrix` read):
  /<encoder>/<dataset>/<split>/embeddings   float16/32/64, n x d, chunked by rows
  /<encoder>/<dataset>/<split>/labels       int32/int64, n
  /<encoder>/<dataset>  attributes num_classes (integer), optional class_names (list of strings)
  /<encoder>/<dataset>/head/{weight,bias}   optional classifier head, K x d and K, float

How a split is written so that a killed run never leaves a split that looks complete: taskrel reads
every group below a dataset (except `head`) as a split, so no half-written group may ever sit in the
store, not even under a temporary name. The split is therefore written into a side file
STORE.partial/<encoder>/<dataset>/<split>.h5 (a folder that taskrel's directory-of-stores scan, which
takes only *.h5 files directly in the folder, never reads) and copied into the store in one
H5Ocopy when it is complete: HDF5 creates the copied group first and links it under its name last.
The store is open for writing only during that copy, so `taskrel inspect` can read it while an
extraction runs, and the window in which a kill could hurt the file (HDF5 is not crash-safe) is short.
A side file left by a killed run is deleted and its split redone by the next run.
"""

import json
import os
import shutil

import numpy as np

from taskrel_py.errors import InputError

CONFIG_ATTRIBUTE = "taskrel_py"  # on each split group written here: how it was made (JSON)
COLUMNS = ["encoder", "dataset", "split", "rows", "dim", "dtype", "num_classes", "has_head", "file"]


def check_hdf5(path):
    """An existing path must be an HDF5 file (a missing one is created later)."""
    import h5py
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not an HDF5 store file")
    if os.path.exists(path) and not h5py.is_hdf5(path):
        raise InputError(f"{path}: not an HDF5 file (or its superblock is corrupt)")


def store_files(path):
    """A store file, or the *.h5 / *.hdf5 regular files directly in a directory (as taskrel matrix reads it)."""
    if os.path.isdir(path):
        files = sorted(os.path.join(path, n) for n in os.listdir(path)
                       if n.endswith((".h5", ".hdf5")) and os.path.isfile(os.path.join(path, n)))
        return files
    if not os.path.exists(path):
        raise InputError(f"{path}: store does not exist")
    return [path]


def list_store(path):
    """DataFrame, one row per split: encoder, dataset, split, rows, dim, dtype, num_classes, has_head, file.

    `path` is a store file or a directory of them. Raises InputError (naming the file and HDF5 path)
    for a file that is not HDF5 or a split without embeddings/labels."""
    import h5py
    import pandas as pd
    rows = []
    for file in store_files(path):
        check_hdf5(file)
        try:
            f = h5py.File(file, "r")
        except OSError as e:
            raise InputError(f"{file}: cannot open as HDF5 ({e})") from None
        with f:
            for encoder, enc in f.items():
                if not isinstance(enc, h5py.Group):
                    continue
                for dataset, group in enc.items():
                    if not isinstance(group, h5py.Group):
                        continue
                    num_classes = group.attrs.get("num_classes")
                    has_head = "head" in group and isinstance(group["head"], h5py.Group)
                    for split, sg in group.items():
                        if split == "head" or not isinstance(sg, h5py.Group):
                            continue
                        if "embeddings" not in sg or "labels" not in sg:
                            raise InputError(f"{file}: /{encoder}/{dataset}/{split}: missing embeddings or labels")
                        e = sg["embeddings"]
                        rows.append({"encoder": encoder, "dataset": dataset, "split": split,
                                     "rows": int(e.shape[0]), "dim": int(e.shape[1]) if e.ndim == 2 else -1,
                                     "dtype": str(e.dtype),
                                     "num_classes": int(num_classes) if num_classes is not None else -1,
                                     "has_head": bool(has_head), "file": file})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"rows": "int64", "dim": "int64", "num_classes": "int64", "has_head": "bool"})


# ---------------------------------------------------------------------------------------------- writing

def partial_path(store, encoder, dataset, name):
    return os.path.join(store + ".partial", encoder, dataset, name + ".h5")


def existing_split(store, encoder, dataset, split):
    """None, or {rows, dim, dtype, config} of a split already in the store."""
    import h5py
    if not os.path.exists(store):
        return None
    with h5py.File(store, "r") as f:
        path = f"/{encoder}/{dataset}/{split}"
        if path not in f:
            return None
        g = f[path]
        if not isinstance(g, h5py.Group) or "embeddings" not in g or "labels" not in g:
            raise InputError(f"{store}: {path}: exists but is not a split (needs embeddings and labels); "
                             f"pass --overwrite to replace it")
        config = g.attrs.get(CONFIG_ATTRIBUTE)
        return {"rows": int(g["embeddings"].shape[0]), "dim": int(g["embeddings"].shape[1]),
                "dtype": str(g["embeddings"].dtype), "config": json.loads(config) if config is not None else None}


def existing_dataset(store, encoder, dataset):
    """None, or {num_classes, class_names, has_head} of /<encoder>/<dataset>."""
    import h5py
    if not os.path.exists(store):
        return None
    with h5py.File(store, "r") as f:
        path = f"/{encoder}/{dataset}"
        if path not in f:
            return None
        g = f[path]
        names = g.attrs.get("class_names")
        return {"num_classes": int(g.attrs["num_classes"]) if "num_classes" in g.attrs else None,
                "class_names": [n.decode() if isinstance(n, bytes) else str(n) for n in names]
                if names is not None else None,
                "has_head": "head" in g}


class SplitWriter:
    """Writes one split into its side file; commit() copies it into the store."""

    def __init__(self, store, encoder, dataset, split, rows, dtype, config):
        import h5py
        self.store, self.encoder, self.dataset, self.split = store, encoder, dataset, split
        self.rows, self.dtype, self.config = rows, np.dtype(dtype), config
        self.path = partial_path(store, encoder, dataset, split)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.file = h5py.File(self.path, "w")  # a leftover from a killed run is truncated here
        self.group = self.file.create_group("split")
        self.labels = self.group.create_dataset("labels", shape=(rows,), dtype=np.int64)
        self.embeddings = None
        self.written = 0

    def write(self, embeddings, labels):
        n, d = embeddings.shape
        if self.embeddings is None:
            # Row chunks of about 1 MiB: taskrel reads row blocks (hyperslabs), never columns.
            chunk = max(1, min(self.rows, (1 << 20) // max(1, d * self.dtype.itemsize)))
            self.embeddings = self.group.create_dataset("embeddings", shape=(self.rows, d), dtype=self.dtype,
                                                        chunks=(chunk, d))
        self.embeddings[self.written:self.written + n] = embeddings
        self.labels[self.written:self.written + n] = labels
        self.written += n

    def close(self):
        if self.file is not None:
            self.file.close()
            self.file = None

    def discard(self):
        self.close()
        remove_partial(self.path, self.store)

    def commit(self, num_classes, class_names, overwrite):
        """Copies the finished split into the store (dataset attributes set or checked first)."""
        import h5py
        if self.written != self.rows:
            raise RuntimeError(f"{self.path}: {self.written} of {self.rows} rows written")  # invariant
        self.group.attrs[CONFIG_ATTRIBUTE] = json.dumps(self.config, sort_keys=True)
        self.close()
        with open_for_writing(self.store) as f, h5py.File(self.path, "r") as side:
            group = dataset_group(f, self.store, self.encoder, self.dataset, num_classes, class_names, overwrite)
            if self.split in group:
                del group[self.split]  # only with --overwrite (checked before any work)
            f.copy(side["split"], group, name=self.split)
            f.flush()
        remove_partial(self.path, self.store)


def open_for_writing(store, wait_seconds=120.0):
    """h5py.File(store, "a"), waiting while another process holds HDF5's file lock (a `taskrel inspect`
    or h5py reader of the store: HDF5 refuses a writer then, and readers finish in seconds)."""
    import time
    import h5py
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return h5py.File(store, "a")
        except OSError as e:
            if "lock" not in str(e).lower() or time.monotonic() > deadline:
                raise InputError(f"{store}: cannot open for writing ({e})") from None
            time.sleep(0.5)


def dataset_group(f, store, encoder, dataset, num_classes, class_names, overwrite):
    """/<encoder>/<dataset> with its attributes; differing ones are refused unless overwrite."""
    import h5py
    if encoder in f and not isinstance(f[encoder], h5py.Group):
        raise InputError(f"{store}: /{encoder} exists and is not a group")
    group = f.require_group(encoder).require_group(dataset)
    old = group.attrs.get("num_classes")
    if old is not None and int(old) != num_classes and not overwrite:
        raise InputError(f"{store}: /{encoder}/{dataset} has num_classes {int(old)}, this source has "
                         f"{num_classes}; pass --overwrite to redo the dataset")
    names = group.attrs.get("class_names")
    if names is not None and class_names is not None and not overwrite:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        if names != list(class_names):
            raise InputError(f"{store}: /{encoder}/{dataset} has class_names {names[:5]}..., this source has "
                             f"{list(class_names)[:5]}...; pass --overwrite to redo the dataset")
    group.attrs["num_classes"] = np.int64(num_classes)
    if class_names is not None:
        group.attrs["class_names"] = np.array(class_names, dtype=h5py.string_dtype())
    elif "class_names" in group.attrs:
        del group.attrs["class_names"]
    return group


def write_head(store, encoder, dataset, weight, bias, num_classes, class_names, overwrite):
    """/<encoder>/<dataset>/head/{weight,bias}, through a side file like a split (see the module comment)."""
    import h5py
    path = partial_path(store, encoder, dataset, "head")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as side:
        head = side.create_group("head")
        head.create_dataset("weight", data=np.asarray(weight, np.float32))
        head.create_dataset("bias", data=np.asarray(bias, np.float32))
    with open_for_writing(store) as f, h5py.File(path, "r") as side:
        group = dataset_group(f, store, encoder, dataset, num_classes, class_names, overwrite)
        if "head" in group:
            del group["head"]
        f.copy(side["head"], group, name="head")
        f.flush()
    remove_partial(path, store)


def remove_partial(path, store):
    """Deletes a side file and the folders above it that became empty, up to STORE.partial."""
    if os.path.exists(path):
        os.remove(path)
    top = os.path.abspath(store + ".partial")
    folder = os.path.dirname(os.path.abspath(path))
    while folder.startswith(top) and os.path.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)
        if folder == top:
            break
        folder = os.path.dirname(folder)


def clear_stale_partials(store, encoder):
    """Side files left by a killed run of this encoder: their splits are redone."""
    folder = os.path.join(store + ".partial", encoder)
    stale = []
    if os.path.isdir(folder):
        for root, _, names in os.walk(folder):
            stale += [os.path.join(root, n) for n in names]
        shutil.rmtree(folder)
    top = store + ".partial"
    if os.path.isdir(top) and not os.listdir(top):
        os.rmdir(top)
    return stale
