"""Ending a process that imported TensorFlow, TFX, TFMA and Beam without the
interpreter's teardown.

After a program's last line Python tears down every module those libraries
imported: 3-4.5 s on a 2-core machine (benchmarks/README.md, "A process's end"), at
the end of every `fairgate` command and every kfp-local task. Nothing a run
leaves behind depends on that teardown, so `exit_now` does what an orderly exit
does that a program can see, in the same order, and then ends the process with
`os._exit`: it waits for non-daemon threads, runs the atexit handlers (logging's
flush and close, tempfile's and weakref's finalizers), closes every file object
still open, as the teardown would when it frees them (the standard streams are
flushed, not closed).
"""
import atexit
import _io
import gc
import os
import sys
import threading
from typing import NoReturn, Optional

_FILE = _io._IOBase  # pylint: disable=protected-access


def _layer(kind: type) -> int:
    """Outermost first: a text wrapper writes into a buffer, a buffer into a raw
    file (or a gzip stream, whose close writes its trailer)."""
    if issubclass(kind, _io._TextIOBase):  # pylint: disable=protected-access
        return 0
    return 1 if issubclass(kind, _io._BufferedIOBase) else 2  # pylint: disable=protected-access


def _on_standard_descriptor(file) -> bool:
    try:
        return file.fileno() in (0, 1, 2)
    except Exception:  # pylint: disable=broad-except
        return False  # in memory, or closed: no descriptor


def _close_open_files() -> None:
    """Flush, then close, every file object still open, outermost layer first, as
    the teardown does when it frees them. Files on descriptors 0-2 (sys.stderr,
    or another wrapper of the same descriptor) are flushed only, so every later
    line still reaches the terminal. Types are checked once each, against io's
    C base classes, which every file class (io.IOBase's subclasses included)
    derives from: the `io.IOBase` ABC's subclass check took 1.3 s for the 2,500
    types alive after the imports."""
    layer_of: dict = {}
    files = []
    for obj in gc.get_objects():
        kind = type(obj)
        layer = layer_of.get(kind)
        if layer is None:
            layer = layer_of[kind] = _layer(kind) if issubclass(kind, _FILE) else -1
        if layer >= 0:
            files.append((layer, obj))
    files.sort(key=lambda entry: entry[0])
    files = [file for _, file in files]
    closable = [file for file in files if not _on_standard_descriptor(file)]
    for step, which in (("flush", files), ("close", closable)):
        for file in which:
            try:
                if not file.closed:
                    getattr(file, step)()
            except Exception:  # pylint: disable=broad-except
                pass  # a file that cannot flush or close would not at teardown either


def exit_now(code: Optional[int] = 0) -> NoReturn:
    """Exit with `code` as `sys.exit` would (None is 0; an int outside 0-255 is
    1), less the modules' teardown."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # pylint: disable=protected-access
    _close_open_files()
    for stream in (sys.stdout, sys.stderr):  # also when they are not io objects
        try:
            stream.flush()
        except Exception:  # pylint: disable=broad-except
            pass
    code = 0 if code is None else code
    os._exit(code if isinstance(code, int) and 0 <= code < 256 else 1)  # pylint: disable=protected-access
