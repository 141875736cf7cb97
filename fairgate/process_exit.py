"""Ending a process that imported TensorFlow, TFX, TFMA and Beam without the
interpreter's teardown.

After a program's last line Python tears down every module those libraries
imported: ~3 s on a 2-core machine (benchmarks/README.md, "Process exit"), at
the end of every `fairgate` command and every kfp-local task. Nothing a run
leaves behind depends on that teardown, so `exit_now` does what an orderly exit
does that a program can see, in the same order, and then ends the process with
`os._exit`: it waits for non-daemon threads, runs the atexit handlers (logging's
flush and close, tempfile's and weakref's finalizers), flushes every file object
still open for writing, as the teardown would when it frees them, and the
standard streams.
"""
import atexit
import gc
import io
import os
import sys
import threading
from typing import NoReturn


def _flush_open_files() -> None:
    for stream in gc.get_objects():
        if isinstance(stream, io.IOBase):
            try:
                if not stream.closed and stream.writable():
                    stream.flush()
            except Exception:  # pylint: disable=broad-except
                pass  # a stream that cannot flush would not at teardown either


def exit_now(code: int = 0) -> NoReturn:
    """Exit with `code` (0-255; anything else is 1) as `sys.exit` would, less the
    modules' teardown."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # pylint: disable=protected-access
    _flush_open_files()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except Exception:  # pylint: disable=broad-except
            pass
    os._exit(code if isinstance(code, int) and 0 <= code < 256 else 1)  # pylint: disable=protected-access
