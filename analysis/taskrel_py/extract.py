"""Embeddings of image datasets under a PyTorch model, written as a taskrel embedding store.

    PYTHONPATH=analysis python3 -m taskrel_py.extract --store zoo/resnet18.h5 --model resnet18 \\
        [--weights resnet18.pth] [--encoder NAME] [--layer fc] [--head-for DATASET] \\
        (--imagefolder NAME=DIR[:SPLIT] ... | --npy DIR [--datasets a,b]) [--splits train,test] \\
        [--image-size 224] [--resize 256] [--mean ...] [--std ...] [--no-normalize] \\
        [--dtype float32|float16] [--batch-size 64] [--workers 2] [--device auto|cpu|cuda] [--threads N] \\
        [--overwrite] [--progress auto|bar|lines|none] [--progress-seconds 30]

What is read: the *input* of --layer (default: of the last nn.Linear, the classifier: `fc` of a ResNet,
`classifier.6` of a VGG), captured by a forward pre-hook and flattened to (N, d). After the first batch
the hook stops the forward pass there, so reading an early layer does not pay for the rest of the model.

What is written (DESIGN.md section 3; taskrel_py/store.py says how a split is written safely):
/<encoder>/<dataset>/<split>/{embeddings, labels}, num_classes and class_names on the dataset group,
and with --head-for DATASET the classifier itself at /<encoder>/<DATASET>/head/{weight,bias}: only for
that dataset, whose classes must be the model's own, and only when the layer read is the nn.Linear that
produces the model's output (checked on a real forward pass).

Resumable: a split already in the store is skipped (if its row count and extraction settings match; a
mismatch is an error, as mixing settings inside one encoder would be); --overwrite redoes it. A split is
committed to the store only when complete. SIGTERM/SIGUSR1/SIGINT stop at the next batch with exit 3,
keeping the splits already committed.

Exit codes: 0 done, 2 bad input (the message names the file, dataset or layer and what is wrong),
3 interrupted by a signal, 1 anything else.
"""

import argparse
import contextlib
import fcntl
import json
import os
import signal
import sys
import time

import numpy as np

from taskrel_py import models as model_lib
from taskrel_py import sources as source_lib
from taskrel_py import store as store_lib
from taskrel_py.errors import InputError, Interrupted

DTYPES = ("float32", "float16")
FLOAT16_MAX = float(np.finfo(np.float16).max)
# Settings recorded on each split; a rerun with different ones must not skip into a mixed encoder.
COMPARED = ("model", "model_kwargs", "weights", "weights_bytes", "seed", "layer", "preprocess", "dtype")


def _log(message):
    print(f"extract: {message}", file=sys.stderr, flush=True)


class _StopForward(Exception):
    """Raised by the pre-hook once the layer's input is captured: the rest of the forward is not needed."""


class _Capture:
    def __init__(self, module):
        self.value, self.output, self.stop = None, None, False
        self.handles = [module.register_forward_pre_hook(self._pre), module.register_forward_hook(self._post)]

    def _pre(self, module, inputs):
        if self.value is None:
            self.value = inputs[0] if inputs else None
            if self.stop:
                raise _StopForward()

    def _post(self, module, inputs, output):
        if self.output is None:
            self.output = output

    def remove(self):
        for h in self.handles:
            h.remove()


class _Progress:
    """tqdm on a terminal; otherwise a plain line every `every` seconds (batch logs stay readable)."""

    def __init__(self, total, label, mode, every):
        self.total, self.label, self.every, self.done = total, label, every, 0
        self.start = self.last = time.monotonic()
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.mode, self.bar = mode, None
        if mode == "bar":
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=label, unit="img", file=sys.stderr, dynamic_ncols=True)

    def update(self, n):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.mode == "lines" and time.monotonic() - self.last >= self.every and self.done < self.total:
            self.last = time.monotonic()
            rate = self.done / max(1e-9, self.last - self.start)
            _log(f"{self.label}: {self.done}/{self.total} images ({100 * self.done / self.total:.0f}%), "
                 f"{rate:.1f} images/s, {(self.total - self.done) / max(rate, 1e-9):.0f} s left")

    def close(self):
        if self.bar is not None:
            self.bar.close()
        return time.monotonic() - self.start


class _Signals:
    """Turns SIGTERM/SIGUSR1/SIGINT into a flag checked between batches (the store is never written
    from inside a signal handler, and a commit in progress finishes)."""

    def __init__(self, enabled):
        self.enabled, self.received, self.previous = enabled, None, {}

    def __enter__(self):
        if self.enabled:
            for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
                self.previous[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, number, frame):
        self.received = signal.Signals(number).name

    def check(self):
        if self.received:
            raise Interrupted(f"got {self.received}: stopped; the splits committed so far are kept, rerun to resume")

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _encoder_lock(store, encoder):
    """One extraction per (store, encoder) at a time: a second would delete the first's side files.
    flock is released by the kernel if the process dies, so a killed run never blocks the next."""
    folder = store + ".partial"
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f".lock-{encoder}")
    handle = open(path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise InputError(f"{store}: another extraction of encoder {encoder!r} into this store is running "
                         f"(lock {path})") from None
    try:
        yield
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
        handle.close()
        with contextlib.suppress(OSError):
            os.rmdir(folder)  # only when empty


def _resolve_device(device):
    import torch
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device cuda: no CUDA device visible to this PyTorch ({torch.__version__}, "
                         f"CUDA {'built' if torch.backends.cuda.is_built() else 'not built'})")
    if device not in ("cpu", "cuda"):
        raise InputError(f"--device {device!r}: expected auto, cpu or cuda")
    return torch.device(device)


def _embed(model, capture, batch, what):
    """The layer input of one batch as float32 numpy (N, d)."""
    capture.value = None
    try:
        model(batch)
    except _StopForward:
        pass
    value = capture.value
    if value is None:
        raise InputError(f"{what}: the layer was not called during the model's forward pass (or got no "
                         f"positional tensor input); pick another --layer")
    if not hasattr(value, "flatten") or value.dim() < 1 or value.shape[0] != batch.shape[0]:
        raise InputError(f"{what}: the layer's input has shape {tuple(getattr(value, 'shape', ()))}, not "
                         f"(batch {batch.shape[0]}, ...)")
    return value.flatten(1).float().cpu().numpy()


def _probe(model, capture, layer_name, layer_module, sample, device, what):
    """One forward pass on one image: the layer is reached, the embedding dimension, and whether the
    layer is the nn.Linear whose output is the model's output (its weights are then the model's head)."""
    import torch
    capture.value, capture.output, capture.stop = None, None, False
    output = model(sample.unsqueeze(0).to(device))
    z = capture.value
    if z is None:
        raise InputError(f"{what}: --layer {layer_name!r} was not called during the forward pass")
    dim = int(np.prod(z.shape[1:])) if z.dim() > 1 else 1
    is_head = (isinstance(layer_module, torch.nn.Linear) and isinstance(output, torch.Tensor)
               and capture.output is not None and (capture.output is output or torch.equal(capture.output, output)))
    capture.output, capture.stop = None, True
    return dim, is_head


def extract(store, model, *, encoder=None, weights=None, layer=None, num_classes=None, model_kwargs=None, seed=0,
            imagefolder=(), npy=(), datasets=None, splits=None, head_for=None,
            image_size=224, resize=None, mean=source_lib.IMAGENET_MEAN, std=source_lib.IMAGENET_STD, normalize=True,
            dtype="float32", batch_size=64, workers=0, device="auto", threads=None, overwrite=False,
            progress="auto", progress_seconds=30.0, handle_signals=False):
    """Embeds every split of the given datasets and writes them to `store` (see the module comment).

    model: a torchvision architecture name, 'module:callable', 'file.py:callable', or an nn.Module.
    imagefolder: 'NAME=DIR[:SPLIT]' strings or (name, dir, split) tuples; npy: root directories.
    Returns one dict per split: dataset, split, status ('written' | 'skipped'), rows, dim, dtype,
    seconds, images_per_second (None when skipped). Raises InputError for bad input."""
    import torch
    if dtype not in DTYPES:
        raise InputError(f"--dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    if batch_size <= 0 or workers < 0:
        raise InputError(f"--batch-size must be positive and --workers >= 0 (got {batch_size}, {workers})")
    if progress not in ("auto", "bar", "lines", "none"):
        raise InputError(f"--progress {progress!r}: expected auto, bar, lines or none")
    store = os.path.abspath(store)
    store_lib.check_hdf5(store)
    found = source_lib.collect(imagefolder, npy, datasets, splits)
    if head_for is not None and head_for not in found:
        raise InputError(f"--head-for {head_for!r}: not among the datasets ({', '.join(found)})")

    kwargs = dict(model_kwargs or {})
    if num_classes is not None:
        kwargs["num_classes"] = int(num_classes)
    net, model_name = model_lib.build_model(model, kwargs, seed)
    if encoder is None:
        base = weights if weights else (model_name.rpartition(":")[2] if isinstance(model, str) else model_name)
        encoder = os.path.splitext(os.path.basename(base))[0]
    source_lib.check_name(encoder, "encoder", "--encoder")
    what = f"model {model_name}" + (f" with weights {weights}" if weights else "")
    if weights:
        model_lib.load_weights(net, weights, f"model {model_name}")
    layer_name, layer_module = model_lib.resolve_layer(net, layer, what)
    what = f"{what}, layer {layer_name}"
    transform = source_lib.Preprocess(image_size, resize, mean, std, normalize, model_lib.input_channels(net))
    config = {"model": model_name, "model_kwargs": kwargs, "seed": seed, "layer": layer_name, "dtype": dtype,
              "weights": os.path.basename(weights) if weights else None,
              "weights_bytes": os.path.getsize(weights) if weights else None,
              "preprocess": transform.describe()}

    # Which splits are still to do; everything refusable is refused here, before any model runs.
    todo, summary = [], []
    for ds in found.values():
        present = store_lib.existing_dataset(store, encoder, ds.name)
        if present and not overwrite:
            if present["num_classes"] is not None and present["num_classes"] != ds.num_classes:
                raise InputError(f"{store}: /{encoder}/{ds.name} has num_classes {present['num_classes']}, the "
                                 f"source has {ds.num_classes}; pass --overwrite to redo it")
            if present["class_names"] is not None and ds.class_names is not None \
                    and present["class_names"] != ds.class_names:
                raise InputError(f"{store}: /{encoder}/{ds.name} has other class_names than the source "
                                 f"({present['class_names'][:4]}... vs {ds.class_names[:4]}...); pass --overwrite")
        for sp in ds.splits.values():
            old = None if overwrite else store_lib.existing_split(store, encoder, ds.name, sp.split)
            if old is None:
                todo.append((ds, sp))
                continue
            where = f"{store}: /{encoder}/{ds.name}/{sp.split}"
            if old["rows"] != len(sp):
                raise InputError(f"{where} has {old['rows']} rows but {sp.describe()} has {len(sp)} images; "
                                 f"pass --overwrite to redo it")
            if old["config"] is not None:
                differ = [k for k in COMPARED if old["config"].get(k) != config.get(k)]
                if differ:
                    detail = "; ".join(f"{k}: {old['config'].get(k)} -> {config.get(k)}" for k in differ)
                    raise InputError(f"{where} was extracted with other settings ({detail}); pass --overwrite "
                                     f"to redo it")
            summary.append({"dataset": ds.name, "split": sp.split, "status": "skipped", "rows": old["rows"],
                            "dim": old["dim"], "dtype": old["dtype"], "seconds": 0.0, "images_per_second": None})
            _log(f"{encoder}/{ds.name}/{sp.split}: complete in the store, skipped")
    head_needed = head_for is not None and (overwrite or not (store_lib.existing_dataset(store, encoder, head_for)
                                                              or {}).get("has_head"))

    dev = _resolve_device(device)
    if threads:
        torch.set_num_threads(int(threads))
    elif dev.type == "cpu":
        torch.set_num_threads(len(os.sched_getaffinity(0)))  # torch may start with 1 thread here
    net.eval().to(dev)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    capture = _Capture(layer_module)
    try:
        _run(net, capture, layer_name, layer_module, found, todo, summary, head_for, head_needed, transform, store,
             encoder, config, dev, batch_size, workers, progress, progress_seconds, overwrite, handle_signals, what)
    finally:
        capture.remove()  # a model passed in by the caller leaves without our hooks
    return summary


def _run(net, capture, layer_name, layer_module, found, todo, summary, head_for, head_needed, transform, store,
         encoder, config, dev, batch_size, workers, progress, progress_seconds, overwrite, handle_signals, what):
    import torch
    with _encoder_lock(store, encoder), _Signals(handle_signals) as signals, torch.inference_mode():
        for stale in store_lib.clear_stale_partials(store, encoder):
            _log(f"removed {stale} (a split left unfinished by an earlier run; it is redone)")
        if not todo and not head_needed:
            return
        probe_split = todo[0][1] if todo else next(iter(found[head_for].splits.values()))
        sample = source_lib.torch_dataset(probe_split, transform)[0][0]
        dim, is_head = _probe(net, capture, layer_name, layer_module, sample, dev, what)
        head = None
        if head_for is not None:
            if not is_head:
                raise InputError(f"--head-for {head_for}: {what} is a {type(layer_module).__name__} whose output is "
                                 f"not the model's output, so it is not the model's classifier head")
            head_classes = layer_module.weight.shape[0]
            if head_classes != found[head_for].num_classes:
                raise InputError(f"--head-for {head_for}: the classifier {layer_name} has {head_classes} outputs but "
                                 f"dataset {head_for} has {found[head_for].num_classes} classes (a head only fits "
                                 f"the label set the model was trained on)")
            bias = layer_module.bias if layer_module.bias is not None else torch.zeros(head_classes)
            head = (layer_module.weight.detach().float().cpu().numpy(), bias.detach().float().cpu().numpy())

        for ds, sp in todo:
            summary.append(_extract_split(net, capture, ds, sp, transform, store, encoder, config, dim, dev,
                                          batch_size, workers, progress, progress_seconds, overwrite, signals, what))
        if head is not None and head_needed:
            store_lib.write_head(store, encoder, head_for, head[0], head[1], found[head_for].num_classes,
                                 found[head_for].class_names, overwrite)
            _log(f"{encoder}/{head_for}/head: weight {head[0].shape[0]} x {head[0].shape[1]} (of layer {layer_name}) "
                 f"written")


def _extract_split(net, capture, ds, sp, transform, store, encoder, config, dim, dev, batch_size, workers,
                   progress, progress_seconds, overwrite, signals, what):
    import torch
    label = f"{encoder}/{ds.name}/{sp.split}"
    loader = torch.utils.data.DataLoader(source_lib.torch_dataset(sp, transform), batch_size=batch_size,
                                         shuffle=False, num_workers=workers, pin_memory=dev.type == "cuda")
    writer = store_lib.SplitWriter(store, encoder, ds.name, sp.split, len(sp), config["dtype"],
                                   dict(config, source=sp.path))
    bar = _Progress(len(sp), label, progress, progress_seconds)
    try:
        for images, labels in loader:
            signals.check()
            z = _embed(net, capture, images.to(dev, non_blocking=True), f"{what} on {sp.describe()}")
            if z.shape[1] != dim:
                raise InputError(f"{what} on {sp.describe()}: embedding dimension {z.shape[1]} differs from {dim} "
                                 f"of the first image (images of different sizes?)")
            out = z.astype(config["dtype"])
            bad = ~np.isfinite(out).all(axis=1)
            if bad.any():
                row = writer.written + int(np.argmax(bad))
                hint = (f" (finite in float32 but beyond float16's {FLOAT16_MAX:.0f}: use --dtype float32)"
                        if np.isfinite(z[bad]).all() else "")
                raise InputError(f"{what} on {sp.describe()}: embedding of row {row} is not finite{hint}")
            writer.write(out, labels.numpy())
            bar.update(len(labels))
        signals.check()
        seconds = bar.close()
        writer.commit(ds.num_classes, ds.class_names, overwrite)
    except RuntimeError as e:
        bar.close()
        writer.discard()
        if signals.received or "killed by signal" in str(e):
            raise Interrupted(f"{label}: stopped ({signals.received or e}); rerun to resume") from None
        raise
    except BaseException:
        bar.close()
        writer.discard()
        raise
    rate = len(sp) / max(seconds, 1e-9)
    _log(f"{label}: {len(sp)} images, d = {dim}, {config['dtype']}, {seconds:.1f} s ({rate:.1f} images/s) "
         f"-> {store}")
    return {"dataset": ds.name, "split": sp.split, "status": "written", "rows": len(sp), "dim": dim,
            "dtype": config["dtype"], "seconds": seconds, "images_per_second": rate}


def _floats(text, flag):
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected numbers separated by commas") from None


def parser():
    p = argparse.ArgumentParser(prog="python3 -m taskrel_py.extract", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See analysis/README.md for the layouts and examples.")
    p.add_argument("--store", required=True, help="HDF5 store to write (created or appended to)")
    m = p.add_argument_group("model")
    m.add_argument("--model", "--arch", dest="model", required=True,
                   help="torchvision architecture (resnet18, vgg11, ...; random init unless --weights), "
                        "module:callable or file.py:callable returning an nn.Module")
    m.add_argument("--weights", help="state_dict / checkpoint file to load into the model")
    m.add_argument("--num-classes", type=int, help="classes of the model's classifier (torchvision num_classes)")
    m.add_argument("--model-kwargs", default="{}", help="JSON object of keyword arguments for the model's constructor")
    m.add_argument("--seed", type=int, default=0, help="seed of the random init (default 0)")
    m.add_argument("--encoder", help="encoder name in the store (default: the weights file's stem, else the model)")
    m.add_argument("--layer", help="module whose input is read (default: the last nn.Linear, the classifier)")
    m.add_argument("--head-for", metavar="DATASET",
                   help="also store the classifier as /<encoder>/DATASET/head (DATASET's classes = the model's)")
    d = p.add_argument_group("data")
    d.add_argument("--imagefolder", action="append", default=[], metavar="NAME=DIR[:SPLIT]",
                   help="an ImageFolder dataset (repeatable); DIR/train, DIR/test are its splits when present")
    d.add_argument("--npy", action="append", default=[], metavar="DIR",
                   help="a directory of DIR/<dataset>/<split>/{images,labels}.npy (repeatable)")
    d.add_argument("--datasets", help="only these datasets (comma-separated)")
    d.add_argument("--splits", help="only these splits (comma-separated)")
    d.add_argument("--image-size", type=int, default=224, help="centre crop fed to the model (default 224)")
    d.add_argument("--resize", type=int, help="shorter side before the crop (default image-size * 256/224; 0: none)")
    d.add_argument("--mean", default=",".join(map(str, source_lib.IMAGENET_MEAN)), help="default: ImageNet's")
    d.add_argument("--std", default=",".join(map(str, source_lib.IMAGENET_STD)), help="default: ImageNet's")
    d.add_argument("--no-normalize", action="store_true", help="feed images in [0, 1], not normalised")
    r = p.add_argument_group("run")
    r.add_argument("--dtype", choices=DTYPES, default="float32", help="stored embedding type (default float32)")
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0: in the main one)")
    r.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    r.add_argument("--threads", type=int, help="torch CPU threads (default: the CPUs this process may use)")
    r.add_argument("--overwrite", action="store_true", help="redo splits (and the head) already in the store")
    r.add_argument("--progress", default="auto", choices=("auto", "bar", "lines", "none"),
                   help="auto: a bar on a terminal, plain lines otherwise")
    r.add_argument("--progress-seconds", type=float, default=30.0, help="interval of the plain progress lines")
    r.add_argument("--summary-json", help="also write the per-split summary to this JSON file")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        try:
            model_kwargs = json.loads(args.model_kwargs)
        except json.JSONDecodeError as e:
            raise InputError(f"--model-kwargs {args.model_kwargs!r}: not JSON ({e})") from None
        if not isinstance(model_kwargs, dict):
            raise InputError(f"--model-kwargs {args.model_kwargs!r}: must be a JSON object")
        summary = extract(
            args.store, args.model, encoder=args.encoder, weights=args.weights, layer=args.layer,
            num_classes=args.num_classes, model_kwargs=model_kwargs, seed=args.seed, imagefolder=args.imagefolder,
            npy=args.npy, datasets=args.datasets.split(",") if args.datasets else None,
            splits=args.splits.split(",") if args.splits else None, head_for=args.head_for,
            image_size=args.image_size, resize=args.resize, mean=_floats(args.mean, "--mean"),
            std=_floats(args.std, "--std"), normalize=not args.no_normalize, dtype=args.dtype,
            batch_size=args.batch_size, workers=args.workers, device=args.device, threads=args.threads,
            overwrite=args.overwrite, progress=args.progress, progress_seconds=args.progress_seconds,
            handle_signals=True)
    except (InputError, Interrupted) as e:
        print(f"extract: error: {e}" if isinstance(e, InputError) else f"extract: {e}", file=sys.stderr)
        return e.exit_code
    if args.summary_json:
        with open(args.summary_json, "w") as f:
            json.dump(summary, f, indent=1)
    written = [s for s in summary if s["status"] == "written"]
    _log(f"done: {len(written)} split(s) written, {len(summary) - len(written)} already complete -> {args.store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
