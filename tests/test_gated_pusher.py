"""GatedPusher's release: once per model content, never interleaved, never
half-visible, never reusing a version number; failures leave nothing behind.
Pushes run in real processes on small real SavedModels, on a local folder through
the local code (rename) and through the object-storage code (no rename, gfile)."""
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from fairgate.release import protocol, publication, serving_versions
from tests import push_workers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return push_workers.make_models(str(tmp_path_factory.mktemp("models")), 2)


def _push(model, destination, object_storage=False, **options):
    return protocol.release(model, destination,
                           {"fingerprint": serving_versions.fingerprint(model)},
                           storage=push_workers.storage(object_storage), **options)


def test_fingerprint_follows_content_not_location(models, tmp_path):
    copy = shutil.copytree(models[0], tmp_path / "copy")
    assert serving_versions.fingerprint(models[0]) == \
        serving_versions.fingerprint(str(copy)) != serving_versions.fingerprint(models[1])


@pytest.mark.parametrize("object_storage", [False, True], ids=["local", "object"])
def test_push_writes_a_usable_version_once(models, tmp_path, object_storage):
    serving = str(tmp_path / "serving")
    version, new = _push(models[0], serving, object_storage)
    assert new and serving_versions.versions(serving) == [version]
    assert serving_versions.unusable_reason(os.path.join(serving, version)) is None
    assert _push(models[0], serving, object_storage) == (version, False)
    other, new = _push(models[1], serving, object_storage)
    assert new and int(other) > int(version)
    record = serving_versions.push_record(os.path.join(serving, other))
    assert record["fingerprint"] == serving_versions.fingerprint(models[1])
    assert record["version"] == other


@pytest.mark.parametrize("object_storage", [False, True], ids=["local", "object"])
def test_concurrent_pushes_are_distinct_complete_and_once_per_model(
        models, tmp_path, object_storage):
    """Three processes (two models, one of them twice) push to one destination at
    the same moment, three rounds."""
    rounds = [str(tmp_path / f"round{r}") for r in range(3)]
    pushers = [models[0], models[1], models[0]]
    outcomes = push_workers.contend(pushers, rounds, object_storage)
    assert [o for o in outcomes if not o["ok"]] == []
    for destination in rounds:
        problems = push_workers.inspect(destination, pushers, object_storage)
        assert problems == {"duplicates": [], "unusable": [], "missing": [],
                            "leftovers": []}, destination
        assert len(serving_versions.versions(destination)) == 2
    new = sum(o["new"] for o in outcomes)
    assert new == 2 * len(rounds)  # the repeated model was found, not pushed twice


def test_version_numbers_stay_above_folders_and_claims(models, tmp_path):
    serving = tmp_path / "serving"
    (serving / "9999999999").mkdir(parents=True)  # pushed by a pod whose clock ran ahead
    assert protocol.next_version(str(serving)) == 10_000_000_000
    claims = serving / publication.CONTROL_DIR / protocol.CLAIMS_DIR
    claims.mkdir(parents=True)
    (claims / "10000000005.someone").write_text("{}")  # claimed, folder since removed
    assert protocol.next_version(str(serving)) == 10_000_000_006
    version, _ = _push(models[0], str(serving))
    assert version == "10000000006"


@pytest.mark.parametrize("object_storage", [False, True], ids=["local", "object"])
def test_a_failing_copy_is_removed_at_once_and_its_number_not_reused(
        models, tmp_path, monkeypatch, object_storage):
    serving = str(tmp_path / "serving")
    storage_class = type(push_workers.storage(object_storage))
    real = storage_class.copy_file
    calls = []

    def copy_then_fail(self, source, target):
        calls.append(target)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(self, source, target)

    monkeypatch.setattr(storage_class, "copy_file", copy_then_fail)
    with pytest.raises(protocol.PushFailed, match=f"push to {serving} failed: .*No "
                                                 "space left.*partial version"):
        _push(models[0], serving, object_storage)
    assert serving_versions.versions(serving) == []
    assert sorted(os.listdir(serving)) == [publication.CONTROL_DIR]
    failed = list(protocol.claims(serving, push_workers.storage(object_storage)))
    monkeypatch.setattr(storage_class, "copy_file", real)
    version, new = _push(models[0], serving, object_storage)
    assert new and int(version) > failed[0]


def _pushing_process(model, destination, object_storage=False, **options):
    args = [sys.executable, "-m", "tests.push_workers", "push", model, destination]
    if object_storage:
        args.append("--object-storage")
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


@pytest.mark.parametrize("object_storage", [False, True], ids=["local", "object"])
def test_a_push_killed_mid_copy_is_cleaned_by_the_next(models, tmp_path, object_storage):
    """kill -9 while the files are being copied (a slow copy, so the kill lands
    inside it); the next push removes the partial copy, once its owner is gone,
    and pushes."""
    serving = str(tmp_path / "serving")
    env = {**os.environ, "PYTHONPATH": ROOT}
    options = {"stale_s": 2, "heartbeat_s": 0.2} if object_storage else {}
    child = subprocess.Popen(_pushing_process(models[0], serving, object_storage,
                                              slow_copy_s=0.5, **options),
                             env=env, cwd=ROOT)
    deadline = time.time() + 60
    while not _partial(serving):
        assert child.poll() is None and time.time() < deadline
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert serving_versions.newest_usable(serving)[0] is None  # nothing loadable
    version, new = _push(models[0], serving, object_storage, **options)
    assert new and serving_versions.versions(serving) == [version]
    assert _partial(serving) == []
    problems = push_workers.inspect(serving, [models[0]], object_storage)
    assert not any(problems.values()), problems


def _partial(serving):
    if not os.path.isdir(serving):
        return []
    return [n for n in os.listdir(serving) if n.startswith(publication.INCOMING_PREFIX)
            or (n.isdigit() and not os.path.exists(os.path.join(serving, n,
                                                                 "saved_model.pb")))]


def _limited_push(model, destination, limit_bytes):
    """A separate pushing process whose files may not exceed limit_bytes
    (RLIMIT_FSIZE): the fallback for a full disk where tmpfs cannot be mounted."""
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return subprocess.run(_pushing_process(model, destination), cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": ROOT}, preexec_fn=limit,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs where mounting is allowed (root), else None."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)
    yield str(mount) if done.returncode == 0 else None
    if done.returncode == 0:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_destination_that_fills_up(models, tmp_path, small_disk):
    """The model (~200 KB of variables) does not fit: the pushing process exits 1
    naming the destination, no partial folder is left, and once there is room
    the next push succeeds."""
    if small_disk:
        serving = os.path.join(small_disk, "serving")
        os.makedirs(serving)
        filler = os.path.join(small_disk, "filler")
        with open(filler, "wb") as f:
            f.write(b"x" * 900_000)
        failed = subprocess.run(_pushing_process(models[0], serving), cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": ROOT},
                                capture_output=True, text=True, timeout=120)
        os.remove(filler)
    else:
        serving = str(tmp_path / "serving")
        failed = _limited_push(models[0], serving, 100_000)
    assert failed.returncode == 1, failed.stderr
    assert f"push to {serving} failed" in failed.stderr
    assert serving_versions.versions(serving) == []
    assert _partial(serving) == []
    assert [n for n in os.listdir(serving) if n != publication.CONTROL_DIR] == []
    again = subprocess.run(_pushing_process(models[0], serving), cwd=ROOT,
                           env={**os.environ, "PYTHONPATH": ROOT},
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    version = json.loads(again.stdout.strip().splitlines()[-1])["version"]
    assert serving_versions.versions(serving) == [version]


def test_the_rlimit_fallback_fails_the_same_way(models, tmp_path):
    serving = str(tmp_path / "serving")
    failed = _limited_push(models[0], serving, 100_000)
    assert failed.returncode == 1, failed.stderr
    assert f"push to {serving} failed" in failed.stderr and "File too large" in failed.stderr
    assert serving_versions.versions(serving) == [] and _partial(serving) == []
