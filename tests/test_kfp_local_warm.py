"""kfp-local's warm task start (pipeline/kfp_local/warm.py): a task forked from the
warm interpreter sees what a fresh `python -m` would (argv, folder, environment,
streams, exit code), runs TensorFlow, and leaves nothing behind for the next task."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from pipeline.kfp_local import warm

PROBE = textwrap.dedent("""
    import json, os, sys, threading
    import tensorflow as tf
    marker = os.environ.get("PROBE_SET")
    if marker:  # a task's own change, which the next task must not see
        os.environ["PROBE_LEFT"] = marker
    left = os.environ.get("PROBE_LEFT")
    total = float(tf.reduce_sum(tf.matmul(tf.ones([2, 3]), tf.ones([3, 2]))))
    os.write(2, b"to stderr\\n")
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": os.environ.get("PROBE"),
                      "stdin": sys.stdin.read(), "threads": threading.active_count(),
                      "main": __name__, "path0": sys.path[0], "left": left,
                      "total": total}), flush=True)
    code = sys.argv[-1]
    if code == "raise":
        raise RuntimeError("probe failed")
    if code == "hang":
        import time; time.sleep(600)
    sys.exit(int(code))
    """)


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    folder = tmp_path_factory.mktemp("probe")
    (folder / "probe_task.py").write_text(PROBE)
    return folder


def _task_environment(monkeypatch, probe):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(probe)] + sys.path))
    monkeypatch.setenv("PROBE", "from the runner")


@pytest.fixture(scope="module")
def started(probe):
    """One warm interpreter for the file, as kfp-local keeps one for all of a run's
    tasks: each test's tasks are forked from it after the earlier tests' tasks. It is
    started with the environment the tasks get (as kfp-local starts it at the
    beginning of a run)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _task_environment(monkeypatch, probe)
        with warm.WarmPython(sys.executable, str(probe / "warm.log")) as warm_python:
            yield warm_python


@pytest.fixture
def warm_python(started, probe, monkeypatch):
    _task_environment(monkeypatch, probe)  # what each task's request carries
    return started


def _warm(warm_python, folder, *args):
    folder.mkdir(exist_ok=True)
    process = warm_python.start(["-m", "probe_task", *args], str(folder))
    output = process.stdout.read()
    return process.wait(), output


def _fresh(folder, *args):
    folder.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "probe_task", *args], cwd=str(folder),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def _report(output):
    (line,) = [line for line in output.splitlines() if line.startswith("{")]
    return json.loads(line)


def test_a_warm_task_sees_what_a_fresh_interpreter_sees(warm_python, tmp_path):
    fresh_code, fresh_output = _fresh(tmp_path / "fresh", "a b", "7")
    warm_code, warm_output = _warm(warm_python, tmp_path / "warm", "a b", "7")
    assert fresh_code == warm_code == 7
    fresh, warm_seen = _report(fresh_output), _report(warm_output)
    for seen, folder in ((fresh, "fresh"), (warm_seen, "warm")):
        assert seen["cwd"] == seen["path0"] == str(tmp_path / folder)
        assert seen["argv"][0].endswith("probe_task.py") and seen["argv"][1:] == ["a b", "7"]
    assert {k: v for k, v in warm_seen.items() if k not in ("cwd", "path0")} == \
        {k: v for k, v in fresh.items() if k not in ("cwd", "path0")}
    assert warm_seen["env"] == "from the runner" and warm_seen["stdin"] == ""
    assert warm_seen["threads"] == 1 and warm_seen["main"] == "__main__"
    assert warm_seen["total"] == 12.0  # TensorFlow runs in the forked child
    assert "to stderr" in warm_output  # stdout and stderr both reach the pipe


def test_exit_codes_and_a_kill_are_reported_as_popen_reports_them(warm_python, tmp_path):
    assert _warm(warm_python, tmp_path / "zero", "0")[0] == 0
    code, output = _warm(warm_python, tmp_path / "raise", "raise")
    assert code == 1 and "RuntimeError: probe failed" in output
    (tmp_path / "hang").mkdir()
    process = warm_python.start(["-m", "probe_task", "hang"], str(tmp_path / "hang"))
    assert _report(process.stdout.readline() + process.stdout.readline())["argv"][-1] == \
        "hang"  # it runs: now end it
    process.kill()
    assert process.wait() == -9


def test_a_task_leaves_nothing_for_the_next(warm_python, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBE_SET", "first")
    first = _report(_warm(warm_python, tmp_path / "one", "0")[1])
    monkeypatch.delenv("PROBE_SET")
    second = _report(_warm(warm_python, tmp_path / "two", "0")[1])
    assert first["left"] == "first" and second["left"] is None


def test_a_warm_interpreter_that_cannot_start_is_named(tmp_path):
    failed = warm.WarmPython("/bin/false", str(tmp_path / "warm.log"))
    (tmp_path / "task").mkdir()
    with pytest.raises(warm.WarmStartFailed, match="warm.log"):
        failed.start(["-m", "probe_task", "0"], str(tmp_path / "task"))
    failed.close()
