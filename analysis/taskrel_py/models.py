"""Building the model, loading its weights and finding the layer whose input is read.

A model spec is either
  - a torchvision classification architecture name (`resnet18`, `vgg11`, `mobilenet_v3_small`, ...),
    built with weights=None (random init from the seed; nothing is ever downloaded), or
  - `module:callable` (module importable from PYTHONPATH) or `path/to/file.py:callable`; the callable
    is called with the keyword arguments given (none by default) and must return an nn.Module.
Weights (`--weights FILE`) are a state_dict, a checkpoint dict holding one under `state_dict`,
`model_state_dict`, `model`, `net` or `module`, or a whole pickled nn.Module; a DataParallel `module.`
prefix is stripped. They must fit the model exactly (missing, unexpected or mis-shaped keys are an
error listing them), except for BatchNorm's num_batches_tracked counters, which do not affect inference.
"""

import difflib
import importlib
import importlib.util
import os

from taskrel_py.errors import InputError

CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model", "net", "module")


def torchvision_architectures():
    from torchvision import models
    return models.list_models(module=models)


def _call_factory(factory, kwargs, what):
    import torch.nn as nn
    try:
        model = factory(**kwargs)
    except Exception as e:  # the user's code or a bad keyword: say which model and why
        raise InputError(f"{what}: building the model failed ({type(e).__name__}: {e})") from None
    if not isinstance(model, nn.Module):
        raise InputError(f"{what}: returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _from_callable(spec, kwargs):
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise InputError(f"--model {spec!r}: expected module:callable or file.py:callable")
    if target.endswith(".py") or os.sep in target:
        if not os.path.isfile(target):
            raise InputError(f"--model {spec!r}: file {target} does not exist")
        name = "taskrel_user_model_" + os.path.splitext(os.path.basename(target))[0]
        module_spec = importlib.util.spec_from_file_location(name, target)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as e:
            raise InputError(f"{target}: importing it failed ({type(e).__name__}: {e})") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise InputError(f"--model {spec!r}: cannot import module {target!r} ({e}); is it on PYTHONPATH?") from None
    factory = getattr(module, attr, None)
    if factory is None or not callable(factory):
        names = [n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
        close = difflib.get_close_matches(attr, names, n=5)
        raise InputError(f"--model {spec!r}: {target} has no callable {attr!r}"
                         + (f"; close names: {', '.join(close)}" if close else ""))
    return _call_factory(factory, kwargs, f"--model {spec}")


def _from_torchvision(name, kwargs):
    from torchvision import models
    known = torchvision_architectures()
    if name not in known:
        if name in models.list_models():
            raise InputError(f"--model {name!r}: a torchvision detection/segmentation/video model, not an image "
                             f"classifier; pass --model module:callable")
        close = difflib.get_close_matches(name, known, n=5)
        raise InputError(f"--model {name!r}: unknown torchvision architecture"
                         + (f"; did you mean {', '.join(close)}?" if close else "")
                         + " (or pass module:callable / file.py:callable)")
    return _call_factory(lambda **kw: models.get_model(name, weights=None, **kw), kwargs, f"--model {name}")


def build_model(spec, kwargs=None, seed=0):
    """(model, description). The random init is seeded without touching the caller's RNG state."""
    import torch
    import torch.nn as nn
    if isinstance(spec, nn.Module):
        return spec, type(spec).__name__
    kwargs = dict(kwargs or {})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if ":" in spec:
            return _from_callable(spec, kwargs), spec
        return _from_torchvision(spec, kwargs), spec


def _state_dict_of(obj, path):
    import torch
    import torch.nn as nn
    if isinstance(obj, nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        for key in CHECKPOINT_KEYS:
            if key in obj and isinstance(obj[key], (dict, nn.Module)):
                return _state_dict_of(obj[key], path)
        keys = ", ".join(list(map(str, obj))[:10])
        raise InputError(f"{path}: no state_dict in this checkpoint (top-level keys: {keys}; looked for a dict of "
                         f"tensors or one under {', '.join(CHECKPOINT_KEYS)})")
    raise InputError(f"{path}: holds a {type(obj).__name__}, not a state_dict, checkpoint dict or nn.Module")


def load_weights(model, path, what):
    import torch
    if not os.path.isfile(path):
        raise InputError(f"{path}: weights file for {what} does not exist")
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:
        raise InputError(f"{path}: cannot load as a PyTorch checkpoint ({type(e).__name__}: {e})") from None
    state = _state_dict_of(obj, path)
    if state and all(k.startswith("module.") for k in state):  # saved from DataParallel / DDP
        state = {k[len("module."):]: v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    mismatched = [(k, tuple(state[k].shape), tuple(own[k].shape)) for k in own
                  if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {', '.join(unexpected[:8])}"
                         + (" ..." if len(unexpected) > 8 else ""))
        for k, theirs, ours in mismatched[:8]:
            parts.append(f"{k} is {theirs} in the file but {ours} in the model")
        hint = ""
        if mismatched and all(k.endswith((".weight", ".bias")) for k, _, _ in mismatched):
            classes = {theirs[0] for _, theirs, _ in mismatched}
            if len(classes) == 1:
                hint = f" (trained with {classes.pop()} classes? pass --num-classes)"
        raise InputError(f"{path}: weights do not fit {what}: " + "; ".join(parts) + hint)
    model.load_state_dict(state, strict=False)  # strict checks done above, num_batches_tracked aside


def resolve_layer(model, layer, what):
    """(name, module) of the module whose input is read; default: the last nn.Linear (the classifier)."""
    import torch.nn as nn
    named = dict(model.named_modules())
    if layer is None:
        linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise InputError(f"{what} has no nn.Linear classifier whose input could be read by default; pass "
                             f"--layer NAME (modules: {', '.join(n for n in list(named)[1:12])} ...)")
        return linears[-1], named[linears[-1]]
    if layer == "" or layer not in named:
        names = [n for n in named if n]
        close = difflib.get_close_matches(layer, names, n=6, cutoff=0.4)
        top = [n for n in names if "." not in n]
        raise InputError(f"--layer {layer!r}: no such module in {what}"
                         + (f"; close names: {', '.join(close)}" if close else "")
                         + f" (top-level modules: {', '.join(top[:20])})")
    return layer, named[layer]


def input_channels(model):
    """Channels of the first 2-D convolution, else 3 (what torchvision's image models take)."""
    import torch.nn as nn
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return 3
