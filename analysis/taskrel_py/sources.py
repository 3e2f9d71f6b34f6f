"""Image datasets to embed, and their preprocessing.

Two sources, both scanned and checked before any model runs (labels, counts, classes), so a bad dataset
stops the run with an InputError naming the file instead of failing halfway:

ImageFolder (torchvision's layout): a folder of class folders of images.
    NAME=DIR:SPLIT   DIR holds the class folders of split SPLIT of dataset NAME;
    NAME=DIR         DIR/train, DIR/test (and DIR/val, DIR/validation) are the splits when DIR/train
                     exists, else DIR itself is the train split.
    Labels are the indices of the sorted class folder names. The classes of a dataset are the union over
    its splits, so train and test agree on every index; a split missing a class is an error, because
    taskrel refuses a split in which some class has no rows.

npy directory (the layout the C++ side exports its tasks in):
    DIR/<dataset>/<split>/images.npy   (N,H,W) or (N,H,W,C) or (N,C,H,W), C in 1/3/4,
                                       uint8 (0..255), uint16 (0..65535) or float (taken as 0..1)
    DIR/<dataset>/<split>/labels.npy   N integers in [0, K)
    DIR/<dataset>/class_names.txt      optional, one name per line (K lines); may instead sit in each
                                       split folder (all copies must agree)
    (N,a,b,c) with c in 1/3/4 is read as channels-last, else with a in 1/3 as channels-first.
    K is the number of class names, else the largest label + 1 over the dataset's splits.

Preprocessing (one tensor pipeline for both sources, so a dataset gives the same embeddings whichever
way it is stored): to float in [0, 1]; channels adapted to the model (grayscale repeated to 3 channels,
RGB averaged to 1 with the ITU-R 601 weights, alpha dropped); shorter side resized to `resize`
(bilinear, antialiased; resize=0: not resized); centre crop `image_size` x `image_size` (an image smaller
than the crop is padded with zeros, i.e. black, by torchvision's center_crop); normalised with mean/std.
"""

import os
import sys
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from taskrel_py.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SPLIT_FOLDERS = ("train", "test", "val", "validation")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def check_name(name, what, where):
    """A store name becomes an HDF5 path component: no '/', not empty, not '.'/'..'."""
    if not name or "/" in name or name in (".", "..") or name.startswith(" ") or name.endswith(" "):
        raise InputError(f"{where}: {what} name {name!r} cannot be an HDF5 group name (empty, '/', '.' or '..')")
    return name


@dataclass
class Split:
    """One split of one dataset: what to read and its labels (already checked)."""

    dataset: str
    split: str
    kind: str  # "imagefolder" | "npy"
    path: str  # the split's class-folder root, or its folder holding images.npy
    labels: np.ndarray  # int64, one per image
    files: List[str] = field(default_factory=list)  # imagefolder: one image file per label
    layout: str = ""  # npy: "NHW", "NHWC" or "NCHW"

    def __len__(self):
        return len(self.labels)

    def describe(self):
        return f"{self.dataset}/{self.split} ({self.kind} {self.path})"


@dataclass
class Dataset:
    name: str
    num_classes: int = 0
    class_names: Optional[List[str]] = None
    splits: dict = field(default_factory=dict)  # split name -> Split


# ---------------------------------------------------------------------------------------------- ImageFolder

def parse_imagefolder(spec):
    """'NAME=DIR[:SPLIT]' -> (name, dir, split or None)."""
    if isinstance(spec, (tuple, list)):
        name, directory, split = (list(spec) + [None])[:3]
        return name, directory, split
    if "=" not in spec:
        raise InputError(f"--imagefolder {spec!r}: expected NAME=DIR or NAME=DIR:SPLIT")
    name, rest = spec.split("=", 1)
    split = None
    # DIR:SPLIT, unless the whole text is an existing path (a folder name may contain ':').
    if ":" in rest and not os.path.isdir(rest):
        candidate, tail = rest.rsplit(":", 1)
        if tail and "/" not in tail:
            rest, split = candidate, tail
    return name, rest, split


def _class_folders(directory):
    try:
        entries = sorted(e.name for e in os.scandir(directory) if e.is_dir() and not e.name.startswith("."))
    except OSError as e:
        raise InputError(f"{directory}: cannot read the ImageFolder directory ({e.strerror})") from None
    return entries


def _images_of(directory):
    files = []
    for root, dirs, names in sorted(os.walk(directory, followlinks=True)):
        dirs.sort()
        for n in sorted(names):
            if n.lower().endswith(IMAGE_EXTENSIONS):
                files.append(os.path.join(root, n))
    return files


def imagefolder_splits(name, directory, split=None):
    """The (split, folder) pairs of one --imagefolder argument."""
    check_name(name, "dataset", f"--imagefolder {name}={directory}")
    if not os.path.isdir(directory):
        raise InputError(f"{directory}: ImageFolder directory of dataset {name!r} does not exist")
    if split is not None:
        classes = _class_folders(directory)
        if classes and set(classes) <= set(SPLIT_FOLDERS):  # NAME=ROOT:test for NAME=ROOT/test:test
            raise InputError(f"--imagefolder {name}={directory}:{split}: {directory} holds split folders "
                             f"({', '.join(classes)}), not class folders; give NAME={directory} for all its "
                             f"splits, or NAME={os.path.join(directory, split)}:{split}")
        return [(check_name(split, "split", directory), directory)]
    if os.path.isdir(os.path.join(directory, "train")):
        return [(s, os.path.join(directory, s)) for s in SPLIT_FOLDERS if os.path.isdir(os.path.join(directory, s))]
    return [("train", directory)]


def add_imagefolder(datasets, spec):
    name, directory, split = parse_imagefolder(spec)
    dataset = datasets.setdefault(name, Dataset(name))
    if any(s.kind != "imagefolder" for s in dataset.splits.values()):
        raise InputError(f"--imagefolder {name}: dataset {name!r} also comes from an npy directory")
    for split_name, folder in imagefolder_splits(name, directory, split):
        if split_name in dataset.splits:
            raise InputError(f"{folder}: split {name}/{split_name} is given twice "
                             f"(also {dataset.splits[split_name].path})")
        dataset.splits[split_name] = Split(name, split_name, "imagefolder", folder, np.zeros(0, np.int64))


def _finish_imagefolder(dataset):
    classes = sorted({c for s in dataset.splits.values() for c in _class_folders(s.path)})
    if not classes:
        where = ", ".join(s.path for s in dataset.splits.values())
        raise InputError(f"{where}: dataset {dataset.name!r} has no class folders (ImageFolder layout: "
                         f"DIR/<class>/<image>)")
    index = {c: i for i, c in enumerate(classes)}
    for s in dataset.splits.values():
        files, labels, empty = [], [], []
        for c in classes:
            folder = os.path.join(s.path, c)
            found = _images_of(folder) if os.path.isdir(folder) else []
            if not found:
                empty.append(c)
            files += found
            labels += [index[c]] * len(found)
        if not files:
            raise InputError(f"{s.path}: split {s.dataset}/{s.split} is empty: no images "
                             f"({', '.join(IMAGE_EXTENSIONS)}) in its class folders")
        if empty:
            raise InputError(f"{s.path}: split {s.dataset}/{s.split} has no images of class(es) "
                             f"{', '.join(empty)} (taskrel needs every class of the dataset in every split)")
        s.files, s.labels = files, np.asarray(labels, np.int64)
    dataset.num_classes, dataset.class_names = len(classes), classes


# ---------------------------------------------------------------------------------------------- npy

def _read_class_names(path):
    with open(path, encoding="utf-8") as f:
        names = [line.rstrip("\r\n") for line in f]
    while names and names[-1] == "":
        names.pop()
    if not names or any(n == "" for n in names):
        raise InputError(f"{path}: class_names.txt needs one non-empty name per line")
    return names


def npy_layout(shape, path):
    if len(shape) == 3:
        return "NHW"
    if len(shape) == 4:
        if shape[3] in (1, 3, 4):
            return "NHWC"
        if shape[1] in (1, 3, 4):
            return "NCHW"
        raise InputError(f"{path}: shape {tuple(shape)}: no channel axis of size 1, 3 or 4 "
                         f"(expected (N,H,W), (N,H,W,C) or (N,C,H,W))")
    raise InputError(f"{path}: images must be (N,H,W), (N,H,W,C) or (N,C,H,W); got shape {tuple(shape)}")


def _load_npy(path, mmap=True):
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise InputError(f"{path}: cannot read as .npy ({e})") from None


def add_npy_root(datasets, root, only=None):
    """Every DIR/<dataset>/<split>/images.npy below root (datasets filtered by `only`)."""
    if not os.path.isdir(root):
        raise InputError(f"{root}: npy directory does not exist")
    found = 0
    for name in sorted(os.listdir(root)):
        dataset_dir = os.path.join(root, name)
        if not os.path.isdir(dataset_dir) or name.startswith(".") or (only and name not in only):
            continue
        splits = [s for s in sorted(os.listdir(dataset_dir))
                  if os.path.isdir(os.path.join(dataset_dir, s)) and
                  (os.path.exists(os.path.join(dataset_dir, s, "images.npy")) or
                   os.path.exists(os.path.join(dataset_dir, s, "labels.npy")))]
        if not splits:
            continue
        check_name(name, "dataset", dataset_dir)
        dataset = datasets.setdefault(name, Dataset(name))
        if any(s.kind != "npy" for s in dataset.splits.values()):
            raise InputError(f"{dataset_dir}: dataset {name!r} also comes from an ImageFolder")
        for split in splits:
            check_name(split, "split", dataset_dir)
            if split in dataset.splits:
                raise InputError(f"{dataset_dir}/{split}: split {name}/{split} is given twice "
                                 f"(also {dataset.splits[split].path})")
            dataset.splits[split] = Split(name, split, "npy", os.path.join(dataset_dir, split), np.zeros(0, np.int64))
            found += 1
    if not found:
        raise InputError(f"{root}: no DIR/<dataset>/<split>/images.npy found"
                         + (f" for dataset(s) {', '.join(sorted(only))}" if only else ""))


def _finish_npy(dataset):
    names, names_from = None, None
    candidates = [os.path.join(os.path.dirname(next(iter(dataset.splits.values())).path), "class_names.txt")]
    candidates += [os.path.join(s.path, "class_names.txt") for s in dataset.splits.values()]
    for path in candidates:
        if os.path.exists(path):
            these = _read_class_names(path)
            if names is not None and these != names:
                raise InputError(f"{path}: class names differ from those of {names_from}")
            names, names_from = these, path
    largest = -1
    for s in dataset.splits.values():
        images_path, labels_path = os.path.join(s.path, "images.npy"), os.path.join(s.path, "labels.npy")
        for p in (images_path, labels_path):
            if not os.path.exists(p):
                raise InputError(f"{p}: missing (split {s.dataset}/{s.split} needs images.npy and labels.npy)")
        images = _load_npy(images_path)
        s.layout = npy_layout(images.shape, images_path)
        if images.dtype not in (np.uint8, np.uint16) and images.dtype.kind != "f":
            raise InputError(f"{images_path}: dtype {images.dtype} is not supported (uint8, uint16 or float)")
        labels = _load_npy(labels_path, mmap=False)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise InputError(f"{labels_path}: labels must be a 1-D integer array, got {labels.dtype} "
                             f"shape {labels.shape}")
        if images.shape[0] == 0:
            raise InputError(f"{images_path}: split {s.dataset}/{s.split} is empty (0 images)")
        if labels.shape[0] != images.shape[0]:
            raise InputError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in "
                             f"{images_path}")
        labels = labels.astype(np.int64)
        if labels.min() < 0:
            raise InputError(f"{labels_path}: label {labels.min()} at row {int(np.argmin(labels))} is negative")
        if names is not None and labels.max() >= len(names):
            raise InputError(f"{labels_path}: label {labels.max()} at row {int(np.argmax(labels))} is outside "
                             f"[0, {len(names)}) ({len(names)} names in {names_from})")
        if images.dtype.kind == "f":
            sample = np.asarray(images[: min(len(images), 256)], dtype=np.float64)
            if not np.isfinite(sample).all():
                raise InputError(f"{images_path}: NaN or Inf among the first {len(sample)} images")
            if sample.min() < -1e-6 or sample.max() > 1 + 1e-6:
                print(f"extract: warning: {images_path}: float images are taken to lie in [0, 1], "
                      f"found [{sample.min():.3g}, {sample.max():.3g}] in the first {len(sample)}", file=sys.stderr)
        s.labels = labels
        largest = max(largest, int(labels.max()))
    dataset.num_classes = len(names) if names is not None else largest + 1
    dataset.class_names = names
    for s in dataset.splits.values():
        counts = np.bincount(s.labels, minlength=dataset.num_classes)
        empty = np.flatnonzero(counts == 0)
        if len(empty):
            label = ", ".join(str(c) + (f" ({names[c]})" if names else "") for c in empty[:10])
            raise InputError(f"{os.path.join(s.path, 'labels.npy')}: split {s.dataset}/{s.split} has no images of "
                             f"class(es) {label} of {dataset.num_classes} (taskrel needs every class in every split)")


def collect(imagefolders=(), npy_roots=(), datasets_filter=None, splits_filter=None):
    """All datasets to embed, scanned and checked: {name: Dataset}."""
    datasets = {}
    only = set(datasets_filter) if datasets_filter else None
    for spec in imagefolders:
        name = parse_imagefolder(spec)[0]
        if only is None or name in only:
            add_imagefolder(datasets, spec)
    for root in npy_roots:
        add_npy_root(datasets, root, only)
    if not datasets:
        raise InputError("no dataset to embed: give --imagefolder NAME=DIR or --npy DIR"
                         + (f" (after --datasets {','.join(sorted(only))})" if only else ""))
    if only and only - set(datasets):
        raise InputError(f"--datasets: {', '.join(sorted(only - set(datasets)))} not found in the given sources")
    for dataset in datasets.values():
        if splits_filter:
            dataset.splits = {k: v for k, v in dataset.splits.items() if k in splits_filter}
            if not dataset.splits:
                raise InputError(f"dataset {dataset.name!r}: none of the splits {','.join(splits_filter)}")
        if "head" in dataset.splits:
            raise InputError(f"{dataset.splits['head'].path}: a split cannot be called 'head' (the store keeps "
                             f"the classifier head at /<encoder>/<dataset>/head)")
        kind = next(iter(dataset.splits.values())).kind
        (_finish_imagefolder if kind == "imagefolder" else _finish_npy)(dataset)
    return datasets


# ---------------------------------------------------------------------------------------------- torch side

class Preprocess:
    """CHW uint8/float tensor -> normalised float tensor of the model's input (see the module comment)."""

    def __init__(self, image_size=224, resize=None, mean=IMAGENET_MEAN, std=IMAGENET_STD, normalize=True,
                 channels=3):
        if image_size <= 0:
            raise InputError(f"--image-size {image_size}: must be positive")
        self.image_size = int(image_size)
        # ImageNet's evaluation recipe: resize to 256, crop 224; the same ratio at other sizes.
        self.resize = int(round(image_size * 256 / 224)) if resize is None else int(resize)
        if self.resize < 0:
            raise InputError(f"--resize {resize}: must be >= 0 (0: no resize)")
        self.channels = channels
        self.normalize = normalize
        mean, std = list(mean), list(std)
        if channels == 1 and len(mean) == 3:  # an RGB mean/std for a grayscale model: their average
            mean, std = [sum(mean) / 3], [sum(std) / 3]
        for what, values in (("--mean", mean), ("--std", std)):
            if len(values) not in (1, channels):
                raise InputError(f"{what} has {len(values)} values; the model takes {channels} channel(s)")
        if normalize and any(s <= 0 for s in std):
            raise InputError(f"--std {std}: must be positive")
        self.mean, self.std = mean * (channels if len(mean) == 1 else 1), std * (channels if len(std) == 1 else 1)

    def describe(self):
        return {"image_size": self.image_size, "resize": self.resize, "normalize": self.normalize,
                "mean": self.mean if self.normalize else None, "std": self.std if self.normalize else None,
                "channels": self.channels}

    def __call__(self, t):
        import torch
        import torchvision.transforms.functional as F
        t = t.float().div_(255) if t.dtype == torch.uint8 else t.float()
        if t.shape[0] in (2, 4):  # grayscale + alpha, RGB + alpha
            t = t[: t.shape[0] - 1]
        if self.channels == 3 and t.shape[0] == 1:
            t = t.expand(3, -1, -1)
        elif self.channels == 1 and t.shape[0] == 3:
            t = F.rgb_to_grayscale(t)
        if self.resize and min(t.shape[1:]) != self.resize:
            t = F.resize(t, [self.resize], antialias=True)
        if tuple(t.shape[1:]) != (self.image_size, self.image_size):
            t = F.center_crop(t, [self.image_size, self.image_size])
        if self.normalize:
            t = F.normalize(t, self.mean, self.std)
        return t.contiguous()


class FolderImages:
    """(preprocessed image, label) of an ImageFolder split; a torch map-style dataset (picklable)."""

    def __init__(self, split, transform):
        self.split, self.transform = split, transform

    def __len__(self):
        return len(self.split.labels)

    def __getitem__(self, i):
        from PIL import Image, UnidentifiedImageError
        from torchvision.transforms.functional import pil_to_tensor
        path = self.split.files[i]
        try:
            with Image.open(path) as image:
                image = image.convert("L" if self.transform.channels == 1 else "RGB")
        except (OSError, UnidentifiedImageError) as e:
            raise InputError(f"{path}: cannot read the image ({e})") from None
        return self.transform(pil_to_tensor(image)), int(self.split.labels[i])


class NpyImages:
    """(preprocessed image, label) of an npy split; images.npy is memory-mapped in each worker."""

    def __init__(self, split, transform):
        self.split, self.transform, self.images = split, transform, None

    def __getstate__(self):  # a worker maps the file itself
        return {"split": self.split, "transform": self.transform, "images": None}

    def __len__(self):
        return len(self.split.labels)

    def __getitem__(self, i):
        import torch
        if self.images is None:
            self.images = np.load(os.path.join(self.split.path, "images.npy"), mmap_mode="r")
        a = np.array(self.images[i])  # a copy: torch wants a writable array, the map is read-only
        if a.dtype == np.uint16:
            a = a.astype(np.float32) / 65535.0
        elif a.dtype.kind == "f" and a.dtype != np.float32:
            a = a.astype(np.float32)
        if self.split.layout == "NHW":
            a = a[None]
        elif self.split.layout == "NHWC":
            a = a.transpose(2, 0, 1)
        return self.transform(torch.from_numpy(np.ascontiguousarray(a))), int(self.split.labels[i])


def torch_dataset(split, transform):
    """A torch map-style dataset of (preprocessed image, label) for one Split."""
    return FolderImages(split, transform) if split.kind == "imagefolder" else NpyImages(split, transform)
