"""A mutual-exclusion lock on a destination (a push destination, a report folder,
a pipeline root), correct on storage without atomic rename or compare-and-swap.

Object stores such as GCS offer, through tf.io.gfile, only: write a whole file
(it appears at once when written), remove it, list a folder, and read a file's
modification time (set by the storage's own clock). No create-if-absent, no
rename. Lamport's bakery algorithm needs no more than that, so the lock is a
bakery over files in `directory`, one set per attempt (an *owner*: host, pid,
process start time, nonce; see publication.new_owner):

  alive.<owner>         written first, refreshed every `heartbeat_s` (heartbeat)
  entering.<owner>      the doorway flag ("choosing" in Lamport's paper)
  ticket.<n>.<owner>    the ticket, written once, never changed

Acquire:
  1. write entering.<me>;
  2. list; n = 1 + the largest ticket number listed (0 if none);
  3. write ticket.<n>.<me>;  4. remove entering.<me>;
  5. L = the owners holding an entering or ticket file in the union of two
     listings, one started after the other ended;
  6. for each j in L: wait until a listing shows no entering.<j>; then, in later
     listings, wait until j has no ticket or (n_j, j) > (n, me).
Release: remove ticket, entering and alive files.

Why two holders cannot coexist. Every operation on one file is linearizable (GCS
and POSIX filesystems guarantee it; a listing returns every file present for the
whole listing). Two facts about an attempt i: (a) from the moment its entering
write completes until it releases, i has an entering or a ticket file, because
the ticket is written before entering is removed; (b) its ticket never changes.
Suppose i and j both hold the lock, with (n_i, i) < (n_j, j).
  * i not in j's L: by (a) and the double listing, i's entering write had not
    completed when j's first step-5 listing started, which was after j's ticket
    was written. So i's step-2 listing came after j's ticket existed, and j, still
    holding, still had it: n_i >= n_j + 1, a contradiction. (One listing would not
    do: it could read the ticket names before i's ticket lands and the entering
    names after i's entering is gone. The second listing starts after the first
    ends, so it sees the ticket.)
  * i in L: j saw no entering.<i> at some listing, so i had finished step 4 (by
    (a), i had a file at L; its entering gone means its ticket was written
    before), and a later listing showed i's ticket, which by (b) is (n_i, i) <
    (n_j, j): j would still be waiting. If that later listing showed no ticket of
    i, i had released, and i holding now is a new attempt with a new owner: the
    first case.
The naive "write a claim, list, lowest wins" fails exactly where step 1 and the
wait on entering files come in: a claimant that lists before a lower claim lands
proceeds beside it.

Progress: the smallest (n, owner) among live participants waits for nobody once
every doorway in progress ends; the doorway is one listing and two writes.

Dead holders. An attempt that died would block everyone, so a waiter removes the
files of an owner that is dead:
  * on a local filesystem, by its process being gone (pid and start time on this
    host: publication.owner_process_gone);
  * otherwise, by the storage's own timestamps: j is dead when none of j's files
    has been modified for `stale_s` by the storage clock. "Now" on that clock is
    the modification time of the waiter's own alive file, written by the same
    storage, plus the time elapsed on the waiter's monotonic clock since: no two
    machines' clocks are compared.
This is a lease: it is safe as long as a live owner refreshes within `stale_s`,
which its heartbeat thread does every `heartbeat_s` (during long copies too).
A holder that cannot prove it is still alive stops before its irreversible
steps: `check_held` raises LockLost when the holder's ticket was removed or its
last successful heartbeat is older than stale_s / 2.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from typing import Callable, Dict, List, Optional

from fairgate.release.publication import (CONTROL_DIR, Storage, new_owner,
                                          owner_process_gone, storage_for)

HEARTBEAT_S = 5.0
STALE_S = 60.0
ALIVE, ENTERING, TICKET = "alive", "entering", "ticket"

log = logging.getLogger("fairgate.release.destination_lock")


class LockLost(RuntimeError):
    """The holder can no longer prove it holds the lock."""


class LockTimeout(TimeoutError):
    """Waited longer than the timeout for another holder."""


@dataclasses.dataclass
class Entry:
    owner: str
    entering: bool = False
    ticket: Optional[int] = None
    alive: bool = False

    def files(self) -> List[str]:
        names = [f"{ALIVE}.{self.owner}"] if self.alive else []
        if self.entering:
            names.append(f"{ENTERING}.{self.owner}")
        if self.ticket is not None:
            names.append(f"{TICKET}.{self.ticket}.{self.owner}")
        return names


def scan(storage: Storage, directory: str) -> Dict[str, Entry]:
    """Every owner with a file in the lock folder, from one listing."""
    try:
        names = storage.listdir(directory)
    except FileNotFoundError:
        return {}
    entries: Dict[str, Entry] = {}
    for name in names:
        kind, _, rest = name.partition(".")
        if kind == TICKET:
            number, _, owner = rest.partition(".")
            if number.isdigit() and owner:
                entries.setdefault(owner, Entry(owner)).ticket = int(number)
        elif kind == ENTERING and rest:
            entries.setdefault(rest, Entry(rest)).entering = True
        elif kind == ALIVE and rest:
            entries.setdefault(rest, Entry(rest)).alive = True
    return entries


class DestinationLock:
    """`with DestinationLock(folder): ...` holds the lock on `folder`'s owner.

    `timeout_s`: raise LockTimeout after waiting that long (None: wait as long
    as the holder lives). `on_wait(holder_description)`: called when the
    attempt first has to wait, and every `notice_s` after."""

    def __init__(self, directory: str, storage: Optional[Storage] = None, *,
                 heartbeat_s: float = HEARTBEAT_S, stale_s: float = STALE_S,
                 poll_s: float = 0.05, timeout_s: Optional[float] = None,
                 on_wait: Optional[Callable[[str], None]] = None,
                 notice_s: float = 30.0, purpose: str = ""):
        if stale_s < 4 * heartbeat_s:
            raise ValueError("stale_s must be at least 4 heartbeats")
        self.directory = directory
        self.storage = storage or storage_for(directory)
        self.heartbeat_s, self.stale_s, self.poll_s = heartbeat_s, stale_s, poll_s
        self.timeout_s, self.on_wait, self.notice_s = timeout_s, on_wait, notice_s
        self.purpose = purpose
        self.owner = ""
        self.ticket: Optional[int] = None
        self.held = False
        self._lost: Optional[str] = None
        self._beat = threading.Condition()
        self._stopping = False
        self._thread: Optional[threading.Thread] = None
        self._clock = (0, 0.0)  # (storage mtime of my alive file, monotonic then)

    # -- files ------------------------------------------------------------
    def _path(self, name: str) -> str:
        return self.storage.join(self.directory, name)

    def _alive_path(self) -> str:
        return self._path(f"{ALIVE}.{self.owner}")

    def _ticket_path(self) -> str:
        return self._path(f"{TICKET}.{self.ticket}.{self.owner}")

    def _remove(self, name: str) -> None:
        try:
            self.storage.remove(self._path(name))
        except FileNotFoundError:
            pass

    # -- heartbeat --------------------------------------------------------
    def _refresh(self) -> None:
        path = self._alive_path()
        self.storage.touch(path, self._about())
        self._clock = (self.storage.mtime_ns(path), time.monotonic())

    def _about(self) -> bytes:
        return json.dumps({"owner": self.owner, "purpose": self.purpose}).encode()

    def _heartbeat(self) -> None:
        while True:
            with self._beat:
                self._beat.wait(self.heartbeat_s)
                if self._stopping:
                    return
            try:
                if not self.storage.exists(self._alive_path()):
                    raise FileNotFoundError(self._alive_path())
                self._refresh()
            except FileNotFoundError:
                self._lost = "its lock files were removed (judged dead by another)"
                return
            except Exception as error:  # storage hiccup: try again next beat
                log.warning("Lock heartbeat on %s failed: %s", self.directory, error)

    def storage_now_ns(self) -> int:
        """Now on the storage's clock (see the module docstring)."""
        mtime, then = self._clock
        return mtime + int((time.monotonic() - then) * 1e9)

    # -- liveness ---------------------------------------------------------
    def is_dead(self, entry: Entry) -> bool:
        if self.storage.local_processes:
            gone = owner_process_gone(entry.owner)
            if gone is not None:
                return gone
        newest = 0
        for name in entry.files():
            try:
                newest = max(newest, self.storage.mtime_ns(self._path(name)))
            except FileNotFoundError:
                return False  # it is changing its files: alive
        return self.storage_now_ns() - newest > self.stale_s * 1e9

    def _reap(self, entry: Entry) -> None:
        log.warning("Removing the lock entry of %s on %s: its owner is gone.",
                    entry.owner, self.directory)
        for name in entry.files():
            self._remove(name)

    # -- the protocol -----------------------------------------------------
    def acquire(self) -> "DestinationLock":
        self.storage.makedirs(self.directory)
        self.owner = new_owner()
        self._lost, self._stopping = None, False
        try:
            self.storage.write(self._alive_path(), self._about())
            self._clock = (self.storage.mtime_ns(self._alive_path()), time.monotonic())
        except BaseException:
            self._remove(f"{ALIVE}.{self.owner}")
            raise
        self._thread = threading.Thread(target=self._heartbeat, daemon=True,
                                        name=f"lock-heartbeat-{self.owner}")
        self._thread.start()
        try:
            self.storage.write(self._path(f"{ENTERING}.{self.owner}"), b"")
            tickets = [e.ticket for e in scan(self.storage, self.directory).values()
                       if e.ticket is not None]
            self.ticket = 1 + max(tickets, default=0)
            self.storage.write(self._ticket_path(), b"")
            self._remove(f"{ENTERING}.{self.owner}")
            first = scan(self.storage, self.directory)
            second = scan(self.storage, self.directory)
            others = sorted({o for entries in (first, second)
                             for o, e in entries.items()
                             if o != self.owner and (e.entering or e.ticket is not None)})
            started = time.monotonic()
            for other in others:
                self._wait_for(other, started)
        except BaseException:
            self._stop()
            raise
        self.held = True
        self._remove_stray()
        return self

    def _remove_stray(self) -> None:
        # An attempt killed between writing its alive file and its entering file
        # leaves only the alive file, which nobody waits on: the holder tidies it.
        for entry in scan(self.storage, self.directory).values():
            if entry.owner != self.owner and not entry.entering and \
                    entry.ticket is None and self.is_dead(entry):
                self._remove(f"{ALIVE}.{entry.owner}")

    def _wait_for(self, other: str, started: float) -> None:
        seen_without_entering = False
        noticed = None
        while True:
            entry = scan(self.storage, self.directory).get(other)
            if entry is None or (not entry.entering and entry.ticket is None):
                return
            if not seen_without_entering:
                if not entry.entering:
                    seen_without_entering = True  # read the ticket in a later listing
                    continue
            elif entry.ticket is None or (entry.ticket, other) > (self.ticket, self.owner):
                return
            if self.is_dead(entry):
                self._reap(entry)
                return
            now = time.monotonic()
            if self.timeout_s is not None and now - started > self.timeout_s:
                raise LockTimeout(
                    f"waited {now - started:.0f} s for {self.describe(other)} to "
                    f"release {self.directory}")
            if self.on_wait and (noticed is None or now - noticed > self.notice_s):
                self.on_wait(self.describe(other))
                noticed = now
            time.sleep(self.poll_s)

    def describe(self, owner: str) -> str:
        try:
            about = json.loads(self.storage.read(self._path(f"{ALIVE}.{owner}")))
        except (FileNotFoundError, ValueError):
            about = {}
        host, pid = (owner.split("_") + ["?", "?"])[:2]
        purpose = about.get("purpose")
        return f"process {pid} on {host}" + (f" ({purpose})" if purpose else "")

    def check_held(self) -> None:
        """Raises LockLost unless this attempt still holds the lock (call before
        an irreversible step)."""
        if not self.held:
            raise LockLost(f"the lock on {self.directory} is not held")
        if self._lost:
            raise LockLost(f"lost the lock on {self.directory}: {self._lost}")
        late = time.monotonic() - self._clock[1]
        if late > self.stale_s / 2:
            raise LockLost(f"lost the lock on {self.directory}: no heartbeat for "
                           f"{late:.0f} s")
        if not self.storage.exists(self._ticket_path()):
            raise LockLost(f"lost the lock on {self.directory}: its ticket was "
                           "removed (judged dead by another)")

    def _stop(self) -> None:
        with self._beat:
            self._stopping = True
            self._beat.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.ticket is not None:
            self._remove(f"{TICKET}.{self.ticket}.{self.owner}")
        self._remove(f"{ENTERING}.{self.owner}")
        self._remove(f"{ALIVE}.{self.owner}")
        self.ticket = None

    def release(self) -> None:
        self.held = False
        self._stop()

    def __enter__(self) -> "DestinationLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def lock_for(destination: str, storage: Optional[Storage] = None, name: str = "lock",
             **options) -> DestinationLock:
    """The lock of a destination folder: `<destination>/.fairgate/<name>/`."""
    storage = storage or storage_for(destination)
    return DestinationLock(storage.join(destination, CONTROL_DIR, name), storage,
                           **options)
