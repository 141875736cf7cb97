"""Whole runs around the release: a corrupted model in serving does not crash a
run (it is named, skipped and the change gates say so), and a second run on the
same pipeline root waits for the first. Real `fairgate run` subprocesses."""
import json
import os
import subprocess
import time

import pytest

from fairgate import config as config_lib
from fairgate.release import serving_versions
from pipeline import runners
from tests.tabular import write_biased_csv
from tests.test_cli import FAIRGATE, write_config


@pytest.fixture(scope="module")
def pushed(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("release")
    write_biased_csv(workdir / "csv" / "data.csv", 2000, seed=0)
    config = write_config(workdir)
    first = subprocess.run([FAIRGATE, "run", "--config", config], cwd=workdir,
                           capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    return workdir, config


def test_a_corrupted_model_in_serving_is_named_and_a_second_run_waits(pushed):
    workdir, config = pushed
    serving = str(workdir / "serving")
    (version,) = serving_versions.versions(serving)
    graph = os.path.join(serving, version, "saved_model.pb")
    with open(graph, "rb") as f:
        head = f.read(100)
    with open(graph, "wb") as f:
        f.write(head)  # the served model cut to 100 bytes

    # Another run holds the pipeline root: this one waits, says so, then runs.
    held = runners.run_lock(config_lib.load(config)).acquire()
    log = open(workdir / "second.log", "w")
    second = subprocess.Popen([FAIRGATE, "run", "--config", config], cwd=workdir,
                              stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.time() + 300
    while "another run on this pipeline root" not in (workdir / "second.log").read_text():
        assert second.poll() is None, (workdir / "second.log").read_text()[-3000:]
        assert time.time() < deadline
        time.sleep(0.5)
    time.sleep(2)
    assert "Component" not in (workdir / "second.log").read_text()  # nothing ran yet
    held.release()
    stdout, _ = second.communicate(timeout=900)
    stderr = (workdir / "second.log").read_text()
    assert second.returncode == 0, stderr[-3000:]
    assert f"version {version} at {serving} is unusable: " in stderr
    assert "does not parse as a SavedModel (100 bytes" in stderr
    assert "VERDICT: BLESSED, pushed" in stdout  # pushed again: serving is mended

    report = json.load(open(workdir / "report" / "report.json"))
    baseline = report["serving_baseline"]
    assert baseline["in_serving"] is False
    assert [u["version"] for u in baseline["unusable"]] == [version]
    assert not any("change vs" in c["name"] for c in report["checks"])
    page = open(workdir / "report" / "report.html").read()
    assert f"Version <b>{version}</b> in serving is unusable" in page
    assert "No usable model was in serving" in page
    versions = serving_versions.versions(serving)
    assert len(versions) == 2 and versions[0] == version
    assert serving_versions.newest_usable(serving)[0] == versions[1]
