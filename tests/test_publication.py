"""Publication primitives: a folder replaced in place is always one whole copy;
a folder published once is never replaced; abandoned copies go only when their
owner is gone."""
import os
import subprocess
import sys
import threading

import pytest

from fairgate.release import destination_lock, publication


def _folder(path, tag, names=("report.json", "report.html", "a.png")):
    os.makedirs(path, exist_ok=True)
    for name in names:
        with open(os.path.join(path, name), "w") as f:
            f.write(f"{tag}:{name}")
    return str(path)


def _tags(path):
    return {open(os.path.join(path, n)).read().split(":")[0]
            for n in os.listdir(path) if not n.startswith(".")}


def test_replacing_a_folder_locally_leaves_one_whole_copy(tmp_path):
    target = str(tmp_path / "report")
    publication.replace_folder(_folder(tmp_path / "s0", "old"), target,
                               completion="report.json")
    sources = [_folder(tmp_path / f"s{i}", f"run{i}") for i in range(1, 7)]
    threads = [threading.Thread(target=publication.replace_folder, args=(s, target),
                                kwargs={"completion": "report.json"}) for s in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(_tags(target)) == 1 and _tags(target) != {"old"}
    assert sorted(os.listdir(tmp_path)) == sorted(["report"] + [f"s{i}" for i in range(7)])


def test_replacing_on_object_storage_removes_stale_files_and_writes_completion_last(
        tmp_path):
    storage = publication.GfileStorage()
    target = str(tmp_path / "report")
    lock = lambda t: destination_lock.lock_for(t, storage)  # noqa: E731
    publication.replace_folder(_folder(tmp_path / "old", "old"), target, storage,
                               completion="report.json", lock_factory=lock)
    order = []
    real = storage.copy_file
    storage.copy_file = lambda s, t: (order.append(os.path.basename(t)), real(s, t))
    publication.replace_folder(_folder(tmp_path / "new", "new", ("report.json", "b.png")),
                               target, storage, completion="report.json",
                               lock_factory=lock)
    assert order[-1] == "report.json"
    assert sorted(n for n in os.listdir(target) if not n.startswith(".")) == \
        ["b.png", "report.json"]
    assert _tags(target) == {"new"}


@pytest.mark.parametrize("storage", [publication.LocalStorage, publication.GfileStorage])
def test_a_folder_published_once_is_never_replaced(tmp_path, storage):
    source = _folder(tmp_path / "model", "m", ("saved_model.pb", "variables.index"))
    target = str(tmp_path / "1")
    options = dict(staging=str(tmp_path / ".incoming-1"), completion="saved_model.pb")
    publication.publish_once(source, target, storage(), extra={"record.json": b"{}"},
                             **options)
    assert sorted(os.listdir(target)) == ["record.json", "saved_model.pb",
                                          "variables.index"]
    with pytest.raises(FileExistsError):
        publication.publish_once(_folder(tmp_path / "other", "o"), target, storage(),
                                 **options)
    assert _tags(target) == {"m", "{}"}


def test_abandoned_copies_are_removed_only_when_their_owner_is_gone(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "from fairgate.release.publication import "
                           "new_owner; print(new_owner())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    alive = publication.new_owner()
    for owner in (dead, alive, "somehost_1_2_3"):
        os.makedirs(tmp_path / f"report{publication.INCOMING_PREFIX}{owner}")
    removed = publication.remove_abandoned(publication.LocalStorage(), str(tmp_path),
                                           [f"report{publication.INCOMING_PREFIX}"])
    assert removed == [f"report{publication.INCOMING_PREFIX}{dead}"]
    assert len(os.listdir(tmp_path)) == 2
