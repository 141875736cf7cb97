"""candidate.artifact pushes: any folder (no saved_model.pb) released once per
content, complete only when its push record (written last) is there, on local
disks and object storage alike (README "Gate your own model")."""
import os

import pytest

from fairgate.release import protocol, serving_versions
from fairgate.release.publication import GfileStorage, LocalStorage


def _folder(path, content):
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "model.pkl"), "wb") as f:
        f.write(content)
    os.makedirs(os.path.join(path, "extra"), exist_ok=True)
    with open(os.path.join(path, "extra", "notes.txt"), "w") as f:
        f.write("vocabulary")
    return str(path)


def _push(folder, serving, storage):
    return protocol.release(folder, serving, {
        "fingerprint": serving_versions.fingerprint(folder),
        "kind": serving_versions.ARTIFACT}, storage=storage)


@pytest.mark.parametrize("storage", [LocalStorage, GfileStorage], ids=["local", "object"])
def test_an_artifact_is_pushed_once_and_counts_as_usable(tmp_path, storage):
    storage = storage()
    serving = str(tmp_path / "serving")
    first = _folder(tmp_path / "a", b"estimator one")
    version, new = _push(first, serving, storage)
    assert new and serving_versions.versions(serving) == [version]
    pushed = os.path.join(serving, version)
    assert not os.path.exists(os.path.join(pushed, "saved_model.pb"))
    assert serving_versions.unusable_reason(pushed, storage) is None
    assert _push(first, serving, storage) == (version, False)
    other, new = _push(_folder(tmp_path / "b", b"estimator two"), serving, storage)
    assert new and int(other) > int(version)
    # A later release must not take a complete artifact for a leftover.
    assert serving_versions.versions(serving) == [version, other]
    with open(os.path.join(pushed, "model.pkl"), "wb") as f:
        f.write(b"changed by hand")
    assert "differ" in serving_versions.unusable_reason(pushed, storage)


def test_without_its_push_record_a_copy_is_incomplete(tmp_path):
    storage = GfileStorage()
    serving = str(tmp_path / "serving")
    partial = tmp_path / "serving" / "123"
    _folder(partial, b"half")
    assert not serving_versions.is_complete(str(partial), storage)
    assert serving_versions.unusable_reason(str(partial), storage) is not None
