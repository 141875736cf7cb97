"""DestinationLock: the bakery protocol under forced interleavings, and dead
holders recognised by their process (local) or the storage's timestamps."""
import os
import subprocess
import sys
import threading
import time

import pytest

from fairgate.release import destination_lock as dl
from fairgate.release.publication import GfileStorage, LocalStorage, new_owner


class PausingStorage(LocalStorage):
    """LocalStorage that parks a chosen thread just before it writes a file whose
    name starts with a prefix, until the test lets it go."""

    def __init__(self):
        self.pauses = {}  # (thread name, prefix) -> (reached, go)

    def pause(self, thread, prefix):
        self.pauses[(thread, prefix)] = (threading.Event(), threading.Event())
        return self.pauses[(thread, prefix)]

    def write(self, path, data):
        for (thread, prefix), (reached, go) in self.pauses.items():
            if threading.current_thread().name == thread and \
                    os.path.basename(path).startswith(prefix) and not go.is_set():
                reached.set()
                assert go.wait(10)
        super().write(path, data)


class Critical:
    """Counts who is inside; fails if two ever are."""

    def __init__(self):
        self.inside, self.order, self.overlaps = 0, [], 0
        self.guard = threading.Lock()

    def enter(self, name, hold=0.2):
        with self.guard:
            self.inside += 1
            self.overlaps += self.inside > 1
            self.order.append(name)
        time.sleep(hold)
        with self.guard:
            self.inside -= 1


def _contender(directory, storage, critical, name, done):
    with dl.DestinationLock(directory, storage, poll_s=0.01):
        critical.enter(name)
    done.append(name)


def test_a_claimant_in_its_doorway_is_waited_for(tmp_path):
    """A lists the tickets (none) and is parked before writing its own; B then
    takes a ticket and must not enter beside A, though A has no ticket yet (the
    naive 'write a claim, list, lowest wins' lets B in here)."""
    storage, critical, done = PausingStorage(), Critical(), []
    reached, go = storage.pause("A", dl.TICKET)
    a = threading.Thread(target=_contender, name="A",
                         args=(str(tmp_path), storage, critical, "A", done))
    a.start()
    assert reached.wait(10)
    b = threading.Thread(target=_contender, name="B",
                         args=(str(tmp_path), storage, critical, "B", done))
    b.start()
    time.sleep(0.5)
    assert critical.order == []  # B waits on A's entering file
    go.set()
    a.join(10), b.join(10)
    assert sorted(done) == ["A", "B"] and critical.overlaps == 0
    assert dl.scan(storage, str(tmp_path)) == {}


def test_equal_tickets_are_ordered_by_owner(tmp_path):
    """A and B both list before either ticket lands: both draw ticket 1; the
    owner names break the tie and exactly one enters at a time."""
    storage, critical, done = PausingStorage(), Critical(), []
    pauses = {n: storage.pause(n, dl.TICKET) for n in "AB"}
    threads = [threading.Thread(target=_contender, name=n,
                                args=(str(tmp_path), storage, critical, n, done))
               for n in "AB"]
    for thread in threads:
        thread.start()
    for reached, _ in pauses.values():
        assert reached.wait(10)
    for _, go in pauses.values():
        go.set()
    for thread in threads:
        thread.join(10)
    assert sorted(done) == ["A", "B"] and critical.overlaps == 0


def test_many_threads_never_overlap(tmp_path):
    storage, critical, done = LocalStorage(), Critical(), []
    threads = [threading.Thread(target=lambda n=n: _contender(
        str(tmp_path), storage, critical, n, done)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(done) == 8 and critical.overlaps == 0


def _dead_owner():
    """The owner name of a process that has exited."""
    child = subprocess.run([sys.executable, "-c",
                            "from fairgate.release.publication import new_owner; print(new_owner())"],
                           capture_output=True, text=True, check=True)
    return child.stdout.strip()


def test_a_holder_whose_process_is_gone_is_removed_locally(tmp_path):
    owner = _dead_owner()
    for name in (f"alive.{owner}", f"ticket.1.{owner}"):
        (tmp_path / name).write_text("")
    started = time.monotonic()
    with dl.DestinationLock(str(tmp_path), LocalStorage(), poll_s=0.01) as lock:
        assert lock.ticket == 2
    assert time.monotonic() - started < 5
    assert os.listdir(tmp_path) == []


def test_on_object_storage_a_silent_holder_is_dead_by_storage_time(tmp_path):
    """Without process liveness (the object-storage code), an owner is dead when
    its files are older than stale_s on the storage's clock; a fresh one is
    waited for."""
    storage = GfileStorage()
    old, fresh = new_owner(), new_owner()
    for name in (f"alive.{old}", f"ticket.1.{old}"):
        (tmp_path / name).write_text("")
        past = time.time() - 30
        os.utime(tmp_path / name, (past, past))
    with dl.DestinationLock(str(tmp_path), storage, heartbeat_s=0.2, stale_s=2,
                            poll_s=0.02):
        pass
    assert os.listdir(tmp_path) == []
    for name in (f"alive.{fresh}", f"ticket.1.{fresh}"):
        (tmp_path / name).write_text("")
    waits = []
    with pytest.raises(dl.LockTimeout, match="to release"):
        with dl.DestinationLock(str(tmp_path), storage, heartbeat_s=0.2, stale_s=5,
                                poll_s=0.02, timeout_s=1, on_wait=waits.append):
            pass
    assert waits and "process" in waits[0]
    assert sorted(os.listdir(tmp_path)) == [f"alive.{fresh}", f"ticket.1.{fresh}"]


def test_a_holder_keeps_its_lease_by_heartbeat(tmp_path):
    """A holder on object storage that holds longer than stale_s is not judged
    dead: its heartbeat refreshes its alive file."""
    storage, critical, done = GfileStorage(), Critical(), []
    # stale_s is 15 heartbeats, so a heartbeat thread starved by a loaded
    # machine still refreshes in time; the hold is over twice stale_s, so a
    # missing heartbeat is still caught.
    options = dict(heartbeat_s=0.1, stale_s=1.5, poll_s=0.02)

    def long_holder():
        with dl.DestinationLock(str(tmp_path), storage, **options) as lock:
            critical.enter("long", hold=3.5)
            lock.check_held()
        done.append("long")

    def waiter():
        with dl.DestinationLock(str(tmp_path), storage, **options):
            critical.enter("waiter")
        done.append("waiter")
    first = threading.Thread(target=long_holder)
    first.start()
    time.sleep(0.3)
    second = threading.Thread(target=waiter)
    second.start()
    first.join(15), second.join(15)
    assert done == ["long", "waiter"] and critical.overlaps == 0


def test_a_holder_whose_ticket_was_removed_knows_it_lost_the_lock(tmp_path):
    lock = dl.DestinationLock(str(tmp_path), LocalStorage()).acquire()
    lock.check_held()
    os.remove(tmp_path / f"ticket.{lock.ticket}.{lock.owner}")
    with pytest.raises(dl.LockLost, match="ticket was removed"):
        lock.check_held()
    lock.release()
