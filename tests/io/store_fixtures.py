"""Test fixtures for taskrel's storage tests, generated at test time.

  store_fixtures.py npy DIR          .npy/.npz inputs (all dtypes, both orders) + bad ones
  store_fixtures.py good-store DIR   a store written by h5py (float16/float64, int32 labels, head)
  store_fixtures.py bad-stores DIR   one crafted store per validation error (see BAD_STORES)
  store_fixtures.py check-written STORE   asserts a store written by taskrel reads back in h5py

Run with Debian's /usr/bin/python3 (numpy + h5py).
"""
import os
import sys

import h5py
import numpy as np


def reference_matrix(rows, cols, dtype):
    # Values exactly representable in float16, so every dtype converts exactly.
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return ((r % 64) * 0.5 - (c % 16) * 0.25).astype(dtype)


def npy_fixtures(out):
    for dtype in ("f2", "f4", "f8"):
        m = reference_matrix(5, 3, dtype)
        np.save(os.path.join(out, f"m_{dtype}_c.npy"), np.ascontiguousarray(m))
        np.save(os.path.join(out, f"m_{dtype}_f.npy"), np.asfortranarray(m))
    labels = np.array([0, 1, 2, 0, 1], dtype=np.int64)
    for dtype in ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"):
        np.save(os.path.join(out, f"labels_{dtype}.npy"), labels.astype(dtype))
    np.save(os.path.join(out, "vector_f8.npy"), np.array([0.5, -1.0, 2.25]))
    m = reference_matrix(5, 3, "f4")
    np.savez(os.path.join(out, "stored.npz"), x=m, y=labels)
    np.savez_compressed(os.path.join(out, "compressed.npz"), x=np.asfortranarray(m.astype("f8")), y=labels.astype("i4"))
    # Header version 2.0 (a header longer than 65535 bytes would force it too).
    with open(os.path.join(out, "v2.npy"), "wb") as f:
        np.lib.format.write_array(f, m, version=(2, 0))
    with open(os.path.join(out, "v3.npy"), "wb") as f:
        np.lib.format.write_array(f, m, version=(3, 0))
    # Bad inputs.
    with open(os.path.join(out, "not_npy.npy"), "wb") as f:
        f.write(b"hello, this is not numpy at all")
    raw = open(os.path.join(out, "m_f4_c.npy"), "rb").read()
    open(os.path.join(out, "truncated.npy"), "wb").write(raw[:-7])
    open(os.path.join(out, "too_long.npy"), "wb").write(raw + b"\0" * 8)
    # A header claiming 10^12 rows: must be refused before any allocation.
    huge = raw.replace(b"(5, 3)", b"(1000000000000, 3)".ljust(len(b"(5, 3)")), 1)
    header_len = int.from_bytes(raw[8:10], "little")
    header = raw[10:10 + header_len].replace(b"(5, 3), }", b"(1000000000000, 3), }")
    header = header.rstrip(b" \n")
    header = header + b" " * (header_len - len(header) - 1) + b"\n"
    assert len(header) == header_len, "fixture header must keep its length"
    open(os.path.join(out, "huge_header.npy"), "wb").write(raw[:10] + header + raw[10 + header_len:])
    del huge
    np.save(os.path.join(out, "big_endian.npy"), m.astype(">f4"))
    np.save(os.path.join(out, "complex.npy"), m.astype("c8"))
    np.save(os.path.join(out, "rank3.npy"), np.zeros((2, 2, 2), dtype="f4"))
    np.save(os.path.join(out, "nan.npy"), np.where(np.arange(15).reshape(5, 3) == 10, np.nan, m))
    np.save(os.path.join(out, "float_labels.npy"), labels.astype("f4"))


def good_store(out):
    with h5py.File(os.path.join(out, "h5py_store.h5"), "w") as f:
        g = f.create_group("enc/ds")
        g.attrs["num_classes"] = 3
        g.attrs["class_names"] = ["cat", "dog", "émeu"]
        x = reference_matrix(9, 4, "f2")
        f.create_dataset("enc/ds/train/embeddings", data=x, chunks=(4, 4))
        f.create_dataset("enc/ds/train/labels", data=(np.arange(9) % 3).astype("i4"))
        f.create_dataset("enc/ds/test/embeddings", data=reference_matrix(6, 4, "f8"))
        f.create_dataset("enc/ds/test/labels", data=(np.arange(6) % 3).astype("i8"))
        f.create_dataset("enc/ds/head/weight", data=np.zeros((3, 4), dtype="f4"))
        f.create_dataset("enc/ds/head/bias", data=np.zeros(3, dtype="f4"))


def split(f, path, x, y, num_classes=3):
    group = f.require_group(path.rsplit("/", 1)[0])
    if "num_classes" not in group.attrs and num_classes is not None:
        group.attrs["num_classes"] = num_classes
    if x is not None:
        f.create_dataset(path + "/embeddings", data=x)
    if y is not None:
        f.create_dataset(path + "/labels", data=y)


# name -> (builder, expected HDF5 path, expected problem text)
def bad_stores(out):
    x = reference_matrix(6, 4, "f4")
    y = (np.arange(6) % 3).astype("i8")
    cases = {
        "missing_labels": lambda f: split(f, "e/d/train", x, None),
        "missing_embeddings": lambda f: split(f, "e/d/train", None, y),
        "embeddings_1d": lambda f: split(f, "e/d/train", x[:, 0], y),
        "embeddings_int": lambda f: split(f, "e/d/train", x.astype("i4"), y),
        "labels_2d": lambda f: split(f, "e/d/train", x, y.reshape(6, 1)),
        "labels_float": lambda f: split(f, "e/d/train", x, y.astype("f4")),
        "label_count": lambda f: split(f, "e/d/train", x, y[:5]),
        "label_range": lambda f: split(f, "e/d/train", x, np.array([0, 1, 2, 7, 1, 2])),
        "negative_label": lambda f: split(f, "e/d/train", x, np.array([0, 1, 2, 0, -1, 2])),
        "nan": lambda f: split(f, "e/d/train", np.where(np.arange(24).reshape(6, 4) == 17, np.inf, x), y),
        "empty_class": lambda f: split(f, "e/d/train", x, np.array([0, 1, 0, 1, 0, 1]), num_classes=3),
        "dim_mismatch": lambda f: (split(f, "e/d1/train", x, y), split(f, "e/d2/train", x[:, :3], y)),
        "missing_num_classes": lambda f: split(f, "e/d/train", x, y, num_classes=None),
        "class_names_count": lambda f: (split(f, "e/d/train", x, y), f["e/d"].attrs.__setitem__("class_names", ["a", "b"])),
        "few_rows": lambda f: split(f, "e/d/train", x[:2], y[:2]),
    }
    for name, build in cases.items():
        with h5py.File(os.path.join(out, name + ".h5"), "w") as f:
            build(f)
    with open(os.path.join(out, "not_hdf5.h5"), "wb") as f:
        f.write(b"plain text, not HDF5\n" * 10)
    with h5py.File(os.path.join(out, "full.h5"), "w") as f:
        split(f, "e/d/train", reference_matrix(4000, 8, "f4"), np.arange(4000) % 3)
    raw = open(os.path.join(out, "full.h5"), "rb").read()
    open(os.path.join(out, "truncated.h5"), "wb").write(raw[: len(raw) // 2])
    os.remove(os.path.join(out, "full.h5"))


def check_written(store):
    """The store written by tests/io's writer test, read back by h5py."""
    with h5py.File(store, "r") as f:
        e = f["enc/ds/train/embeddings"]
        assert e.dtype == np.float32 and e.shape == (7, 5), (e.dtype, e.shape)
        assert e.chunks is not None and e.chunks[1] == 5, e.chunks
        expected = np.arange(35, dtype=np.float32).reshape(7, 5) * 0.5
        assert np.array_equal(e[...], expected)
        labels = f["enc/ds/train/labels"]
        assert labels.dtype == np.int64 and np.array_equal(labels[...], np.arange(7) % 3)
        attrs = f["enc/ds"].attrs
        assert int(attrs["num_classes"]) == 3
        names = [n.decode() if isinstance(n, bytes) else n for n in attrs["class_names"]]
        assert names == ["a", "b", "c"], names
    print("h5py read the taskrel store correctly")


if __name__ == "__main__":
    command, target = sys.argv[1], sys.argv[2]
    {"npy": npy_fixtures, "good-store": good_store, "bad-stores": bad_stores, "check-written": check_written}[command](target)
