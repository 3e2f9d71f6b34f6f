"""taskrel_py: from PyTorch models to a taskrel embedding store, and taskrel's results in Python.

  taskrel_py.extract   embeddings of image datasets under a PyTorch model, written in the store layout
                       of DESIGN.md section 3 (`python3 -m taskrel_py.extract --help`)
  taskrel_py.store     list_store(): what a store file (or a directory of them) holds, as a DataFrame
  taskrel_py.results   load_matrix() / load_transforms() for relatedness.h5, load_results() for relatedness.csv

Only Debian packages are used (python3-torch, -torchvision, -h5py, -numpy, -pandas, -xarray, -tqdm).
torch and xarray are imported by the modules that need them, so `import taskrel_py.store` stays cheap.
"""

from taskrel_py.errors import InputError

__all__ = ["InputError"]
