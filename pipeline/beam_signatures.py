"""Beam's DoFn signature lookups, remembered per function.

Every time Beam builds, translates or sets up a ParDo it asks whether the DoFn
is stateful (`apache_beam.transforms.userstate.get_dofn_specs`), which reads
the signature of *every* method the DoFn has, base classes included, with
`inspect.signature`. Beam asks several times per ParDo, and TFDV's and TFMA's
pipelines hold hundreds of them, so a StatisticsGen or Evaluator run on a small
split spent about a quarter of its CPU in `inspect` (benchmarks/README.md,
"Beam's signature lookups"). The answer only depends on the function: its
code, defaults and keyword defaults. `install()` makes
`apache_beam.transforms.core.get_function_args_defaults` remember it per
function, and recompute it whenever any of those changed; callables it cannot
key exactly (wrapped functions, an explicit `__signature__`, callable objects,
builtins) go to Beam's own code every time.

Only the process that builds and runs the pipeline benefits: a Dataflow or
Flink worker runs Beam's code unchanged, with the same results.
"""
from __future__ import annotations

import types
import weakref

_INSTALLED = "_fairgate_remembered"  # marks the cached wrapper


def _exactly_keyed(function) -> bool:
    """Whether a plain function's (args, defaults) follow from its code and
    defaults alone, as `inspect.signature` computes them."""
    return (type(function) is types.FunctionType
            and "__wrapped__" not in function.__dict__
            and "__signature__" not in function.__dict__)


def _cached(original):
    # function -> {bound: (code, defaults, kwdefaults), args, defaults list}.
    # Weak, so the cache keeps no lambda of a finished pipeline alive.
    remembered: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def get_function_args_defaults(f):
        bound = type(f) is types.MethodType
        function = f.__func__ if bound else f
        if not _exactly_keyed(function):
            return original(f)
        key = (function.__code__, function.__defaults__, function.__kwdefaults__)
        entries = remembered.setdefault(function, {})
        entry = entries.get(bound)
        if entry is None or any(a is not b for a, b in zip(entry[0], key)):
            args, defaults = original(f)
            entries[bound] = entry = (key, args, defaults)
        # Fresh lists: callers keep them (MethodWrapper) and must not share them.
        return list(entry[1]), list(entry[2])

    get_function_args_defaults.__wrapped__ = original
    return get_function_args_defaults


def install() -> None:
    """Remember Beam's function signatures in this process (idempotent)."""
    from apache_beam.transforms import core
    current = core.get_function_args_defaults
    if getattr(current, _INSTALLED, False):
        return
    cached = _cached(current)
    setattr(cached, _INSTALLED, True)
    core.get_function_args_defaults = cached
