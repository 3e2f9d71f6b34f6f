"""Writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus).

Run once when a reader gains a feature worth seeding; the files are committed,
so a fuzzing run (scripts/fuzz.sh) and the ctest replay start from the same
inputs. Each seed is a small valid input, or a near miss that reaches deep
into a reader's checks (a truncated body, a wrong dtype, Fortran order).

    /usr/bin/python3 tests/fuzz/make_seed_corpus.py
"""
import io
import os
import struct
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def out(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def npy_bytes(array, version=None):
    buffer = io.BytesIO()
    if version is None:
        np.save(buffer, array)
    else:
        np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


def npy_corpus():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 3))
    out("npy", "float32_matrix.npy", npy_bytes(x.astype(np.float32)))
    out("npy", "float64_vector.npy", npy_bytes(x[:, 0]))
    out("npy", "float16_matrix.npy", npy_bytes(x.astype(np.float16)))
    out("npy", "big_endian.npy", npy_bytes(x.astype(">f4")))
    out("npy", "fortran_order.npy", npy_bytes(np.asfortranarray(x)))
    out("npy", "int64_labels.npy", npy_bytes(np.array([0, 1, 2, 1], dtype=np.int64)))
    out("npy", "uint8_labels.npy", npy_bytes(np.array([0, 1, 2, 1], dtype=np.uint8)))
    out("npy", "bool.npy", npy_bytes(np.array([True, False])))
    out("npy", "empty_rows.npy", npy_bytes(np.zeros((0, 3), dtype=np.float32)))
    out("npy", "three_dims.npy", npy_bytes(np.zeros((2, 2, 2), dtype=np.float32)))
    out("npy", "version2.npy", npy_bytes(x.astype(np.float32), version=(2, 0)))
    out("npy", "truncated.npy", npy_bytes(x.astype(np.float32))[:-5])


def npz_corpus():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 2)).astype(np.float32)
    y = np.array([0, 1, 0, 1, 1])
    for name, save in (("stored.npz", np.savez), ("deflated.npz", np.savez_compressed)):
        buffer = io.BytesIO()
        save(buffer, x=x, y=y, embeddings=x)
        out("npz", name, buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.npy", b"\x93NUMPY\x01\x00")  # a member cut short
    out("npz", "short_member.npz", buffer.getvalue())


def idx_bytes(array, type_code):
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def idx_corpus():
    images = (np.arange(3 * 4 * 4) % 256).astype(np.uint8).reshape(3, 4, 4)
    out("idx", "images.idx3-ubyte", idx_bytes(images, 0x08))
    out("idx", "labels.idx1-ubyte", idx_bytes(np.array([0, 9, 3], dtype=np.uint8), 0x08))
    out("idx", "int32.idx", idx_bytes(np.array([1, -2, 3], dtype=np.int32), 0x0C))
    out("idx", "float64.idx", idx_bytes(np.array([[0.5, 1.5]], dtype=np.float64), 0x0E))
    out("idx", "truncated.idx", idx_bytes(images, 0x08)[:-7])


def csv_corpus():
    out("csv", "manifest.csv", b"encoder,dataset,split,embeddings,labels,num_classes\n"
                               b"r18,cifar,train,x.npy,y.npy,10\nr18,cifar,test,\"x t.npy\",y.npy,10\n")
    out("csv", "finetune.csv", b"encoder,target,accuracy\nenc,alpha,0.91\nenc,beta,0.5\r\n")
    out("csv", "quoted.csv", b'a,"b ""quoted"", c",d\n1,"multi\nline",3\n,,\n')
    out("csv", "ragged.csv", b"a,b,c\n1,2\n1,2,3,4\n")


def job_spec_corpus():
    out("job_spec", "minimal.toml", b'store = "store.h5"\noutput = "out"\n')
    out("job_spec", "full.toml", b"""name = "fuzz"
store = "store.h5"
output = "matrix"
encoders = "all"
references = ["alpha"]
targets = "all"
self_pairs = false
seed = 3
ranks_per_triple = 1
cache_gib = 0.5
progress_seconds = 30

[relate]
setting = "learned-all"
mode = "label-exact"
cost = "euclidean"
tau0 = "auto"
tau0_grid = [0.25, 1.0, 4.0]
gamma = 1e4
standardize = true
epochs = 50
tolerance = 1e-4
baselines = "all"
""")
    out("job_spec", "misspelt.toml", b'store = "store.h5"\noutput = "o"\n[relate]\ntua0 = 0.02\nepochs = -3\n')
    out("job_spec", "wrong_types.toml", b'store = 5\noutput = ["o"]\nencoders = ["nope"]\nseed = "x"\n')


def store_corpus():
    # The store target reads its input as decisions (fuzz_store.cpp), so any
    # bytes are a store; these few lead to groups, datasets and attributes.
    rng = np.random.default_rng(2)
    out("store", "one_split", bytes([1, 1, 1, 1, 2, 1, 3, 1, 1, 2, 1, 2, 2, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8] * 4))
    for k in range(6):
        out("store", f"random_{k}", rng.integers(0, 256, size=64 + 32 * k, dtype=np.uint8).tobytes())


if __name__ == "__main__":
    npy_corpus()
    npz_corpus()
    idx_corpus()
    csv_corpus()
    job_spec_corpus()
    store_corpus()
