"""Task processes forked from a warm interpreter, for kfp-local.

On a cluster every task is a pod whose Python imports TensorFlow, TFX, TFMA, TFDV
and Beam before its executor runs: 10-17 s of each task's wall time on a 2-core
machine, most of a small task. kfp-local runs all of a run's tasks on one machine,
so it starts one interpreter per run that imports them once (`PRELOAD`) and forks
each `python -m MODULE ARGS` task from it. Each task still gets a process of its
own, started from the same imported state a fresh interpreter reaches, with the
task's argv, working folder, environment, standard streams (stdin empty, stdout and
stderr one pipe) and exit code, as `subprocess.Popen` gives them; a task's state
never reaches the next task, which is forked from the untouched warm interpreter.

Forking is safe here because the warm interpreter only imports: it runs no
TensorFlow op (TensorFlow's thread pools start with the first op), opens no gRPC
channel and starts no Python thread, so a child starts with one thread, as a fresh
interpreter does (tests/test_kfp_local_warm.py checks). The libraries' own helper
threads present after import (OpenBLAS, jemalloc) register fork handlers.

Protocol (one warm interpreter per run; tasks run one at a time): the runner sends
the path of a JSON request (argv, cwd, environment) with the write end of a pipe
over a Unix socket (SCM_RIGHTS); the warm interpreter forks, answers the child's
pid, waits for it, and answers its exit code (negative: the signal that ended it,
as Popen's returncode). The runner reads the task's output from the pipe until end
of file.
"""
import io
import json
import os
import socket
import subprocess
import sys
import traceback
from typing import Any, Dict, List, Optional

from fairgate import process_exit

# What fairgate's tasks import before their executors run: the spec's command
# (pipeline/kfp_entrypoint.py, which imports TFX's KFP v2 executor entrypoint) and
# the libraries the executors import; TFX's Evaluator and Pusher executors alone
# take ~5 s more (they import google.cloud.aiplatform).
PRELOAD = ("pipeline.kfp_entrypoint",
           "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor",
           "tensorflow", "tensorflow_model_analysis", "tensorflow_data_validation",
           "apache_beam", "tensorflow_constrained_optimization", "ml_metadata",
           "tfx.components.evaluator.executor", "tfx.components.pusher.executor",
           "tfx.components.trainer.executor", "tfx.components.statistics_gen.executor")

_MESSAGE = 65536
# The warm interpreter's command (`-c`: `-m` would import this module twice, once
# as part of its package).
_MAIN = "import sys; from pipeline.kfp_local import warm; warm.main(sys.argv)"


class WarmStartFailed(RuntimeError):
    pass


# --- the warm interpreter (`python -c _MAIN FD`) --------------------------------
def _child(request: Dict[str, Any], out: int) -> None:
    """In the forked process: become `python ARGV` in `cwd`; never returns."""
    code = 1
    try:
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        for fd in (stdin, out):
            os.close(fd)
        os.chdir(request["cwd"])
        sys.path[0] = os.getcwd()  # as `python -m` sets it
        os.environ.clear()
        os.environ.update(request["env"])
        argv = request["argv"]
        if argv[:1] != ["-m"] or len(argv) < 2:
            raise ValueError(f"a warm start runs `python -m MODULE ...`, not {argv}")
        sys.argv = [argv[1]] + argv[2:]  # run_module puts the module's file first
        import runpy
        code = 0
        try:
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            if stop.code is None or isinstance(stop.code, int):
                code = stop.code or 0
            else:  # sys.exit("message"): printed, exit status 1, as Python does
                print(stop.code, file=sys.stderr)
                code = 1
    except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        code = 1
    try:
        process_exit.exit_now(code)
    finally:  # never back into the warm interpreter's loop
        os._exit(1)  # pylint: disable=protected-access


def serve(channel: socket.socket) -> None:
    """Forks one child per request until the runner closes the socket."""
    while True:
        message, fds, _, _ = socket.recv_fds(channel, _MESSAGE, 1)
        if not message:
            return
        with open(message.decode()) as f:
            request = json.load(f)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            channel.close()
            _child(request, fds[0])
        os.close(fds[0])
        channel.send(json.dumps({"pid": pid}).encode())
        _, status = os.waitpid(pid, 0)
        channel.send(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())


def main(argv: List[str]) -> None:
    channel = socket.socket(fileno=int(argv[1]))
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import importlib
    for module in PRELOAD:
        importlib.import_module(module)
    channel.send(b'{"ready": true}')
    serve(channel)
    process_exit.exit_now(0)


# --- the runner's side ----------------------------------------------------------
class TaskProcess:
    """The subprocess.Popen surface the launcher uses: stdout, wait, poll, kill."""

    def __init__(self, warm: "WarmPython", pid: int, stdout: io.TextIOBase):
        self._warm = warm
        self.pid = pid
        self.stdout = stdout
        self.returncode: Optional[int] = None

    def wait(self) -> int:
        if self.returncode is None:
            self.returncode = self._warm.receive("exit")
            self.stdout.close()
        return self.returncode

    def poll(self) -> Optional[int]:
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass


class WarmPython:
    """One warm interpreter (`python`), started at once, importing in the background
    while the runner does other work; `close` ends it. Its own output (the libraries'
    import-time notices) goes to `log_path`."""

    def __init__(self, python: str, log_path: str):
        self.log_path = log_path
        self._channel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        with open(log_path, "w") as log:
            self._process = subprocess.Popen(
                [python, "-c", _MAIN, str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT)
        theirs.close()
        self._ready = False

    def receive(self, key: str) -> Any:
        message = self._channel.recv(_MESSAGE)
        if not message:
            code = self._process.wait()
            raise WarmStartFailed(
                f"the warm interpreter ended (exit code {code}); its output: "
                f"{self.log_path}\n" + _tail(self.log_path))
        return json.loads(message)[key]

    def start(self, argv: List[str], cwd: str) -> TaskProcess:
        """`python ARGV` (ARGV = ["-m", MODULE, ...]) in `cwd`, forked warm."""
        if not self._ready:
            self.receive("ready")
            self._ready = True
        request = os.path.join(cwd, "warm_start.json")
        with open(request, "w") as f:
            json.dump({"argv": argv, "cwd": cwd, "env": dict(os.environ)}, f)
        read_end, write_end = os.pipe()
        try:
            socket.send_fds(self._channel, [request.encode()], [write_end])
        finally:
            os.close(write_end)
        try:
            pid = self.receive("pid")
        except BaseException:
            os.close(read_end)
            raise
        return TaskProcess(self, pid, io.open(read_end, "r", encoding="utf-8",
                                              errors="replace"))

    def close(self) -> None:
        self._channel.close()  # the warm interpreter's recv sees end of file
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> "WarmPython":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""
