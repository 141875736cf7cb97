"""Publication primitives: how fairgate makes a folder appear to readers whole.

Three variants, one per kind of destination:

* `replace_folder`: swap a folder in place (the report in `report_dir`). Locally
  the new copy is exchanged with the old one by one atomic rename, so a reader
  sees one report or the other, never a mix; on object storage, under a
  destination lock, the completion file (report.json) is removed first and
  written last.
* `publish_once`: a folder that appears once and is never replaced (a pushed
  model version). Locally it is copied to a staging sibling and renamed into
  place without replacing anything; on object storage, which has no rename, the
  files are copied one by one with the completion file (saved_model.pb) last, so
  nothing is loadable before it is complete. A failure removes the partial copy
  at once.
* `move_files`: moves a staged folder's files one by one (object stores rename
  files, not folders), as CelebAExampleGen publishes its splits.

Every primitive reads and writes through a `Storage`: `LocalStorage` (os, atomic
rename, process liveness by pid) for local paths, `GfileStorage` (tf.io.gfile,
no rename) for URIs. `storage_for(path)` picks one; tests run the object-storage
code on a local folder by passing `GfileStorage()` explicitly.
"""
from __future__ import annotations

import ctypes
import errno
import os
import shutil
import socket
import uuid
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from fairgate.config import is_uri

INCOMING_PREFIX = ".incoming-"  # a copy being written beside its destination
RETIRED_PREFIX = ".retired-"    # the previous copy, swapped out, being removed
STAGING_PREFIX = ".staging-"    # an executor's output before it is moved into place
CONTROL_DIR = ".fairgate"       # locks (and a push destination's claims) in a destination
OWNER_SEPARATOR = "_"


class Storage:
    """The file operations the primitives need. Paths are strings; listings are
    bare names (no trailing slash)."""
    atomic_rename = False
    local_processes = False  # can tell whether a process on this host is alive

    def join(self, *parts: str) -> str:
        return os.path.join(*parts)

    def exists(self, path: str) -> bool: raise NotImplementedError
    def isdir(self, path: str) -> bool: raise NotImplementedError
    def listdir(self, path: str) -> List[str]: raise NotImplementedError
    def makedirs(self, path: str) -> None: raise NotImplementedError
    def write(self, path: str, data: bytes) -> None: raise NotImplementedError
    def read(self, path: str) -> bytes: raise NotImplementedError
    def remove(self, path: str) -> None: raise NotImplementedError
    def rmtree(self, path: str) -> None: raise NotImplementedError
    def mtime_ns(self, path: str) -> int: raise NotImplementedError
    def copy_file(self, source: str, target: str) -> None: raise NotImplementedError
    def rename_file(self, source: str, target: str) -> None: raise NotImplementedError

    def touch(self, path: str, data: bytes = b"") -> None:
        """Refreshes the storage's modification time of `path` (a heartbeat)."""
        self.write(path, data)

    def files(self, folder: str) -> List[str]:
        """Every file under `folder`, relative to it, sorted."""
        found = []
        pending = [""]
        while pending:
            relative = pending.pop()
            here = self.join(folder, relative) if relative else folder
            for name in self.listdir(here):
                child = os.path.join(relative, name) if relative else name
                if self.isdir(self.join(folder, child)):
                    pending.append(child)
                else:
                    found.append(child)
        return sorted(found)


class LocalStorage(Storage):
    atomic_rename = True
    local_processes = True

    def exists(self, path): return os.path.exists(path)
    def isdir(self, path): return os.path.isdir(path)
    def listdir(self, path): return os.listdir(path)
    def makedirs(self, path): os.makedirs(path, exist_ok=True)
    def read(self, path):
        with open(path, "rb") as f:
            return f.read()
    def remove(self, path): os.remove(path)
    def rmtree(self, path): shutil.rmtree(path, ignore_errors=True)
    def mtime_ns(self, path): return os.stat(path).st_mtime_ns
    def copy_file(self, source, target): shutil.copyfile(source, target)
    def rename_file(self, source, target): os.rename(source, target)

    def write(self, path, data):
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def touch(self, path, data=b""):
        os.utime(path)  # raises FileNotFoundError when someone removed it


class GfileStorage(Storage):
    """tf.io.gfile: gs:// and every scheme TensorFlow's filesystems know; also
    local paths, so the object-storage code runs in tests. No rename is used."""

    def __init__(self):
        import tensorflow as tf  # only when an object store is in play
        self._gfile = tf.io.gfile
        self._errors = tf.errors

    def join(self, *parts):
        head, *rest = parts
        return "/".join([head.rstrip("/")] + [p.strip("/") for p in rest])

    def exists(self, path): return self._gfile.exists(path)
    def isdir(self, path): return self._gfile.isdir(path)
    def listdir(self, path):
        try:
            return [n.rstrip("/") for n in self._gfile.listdir(path)]
        except self._errors.NotFoundError:
            raise FileNotFoundError(path) from None
    def makedirs(self, path): self._gfile.makedirs(path)
    def read(self, path):
        try:
            with self._gfile.GFile(path, "rb") as f:
                return f.read()
        except self._errors.NotFoundError:
            raise FileNotFoundError(path) from None
    def write(self, path, data):
        with self._gfile.GFile(path, "wb") as f:
            f.write(data)
    def remove(self, path):
        try:
            self._gfile.remove(path)
        except self._errors.NotFoundError:
            raise FileNotFoundError(path) from None
    def rmtree(self, path):
        if self._gfile.exists(path):
            try:
                self._gfile.rmtree(path)
            except self._errors.NotFoundError:
                pass
    def mtime_ns(self, path):
        try:
            return int(self._gfile.stat(path).mtime_nsec)
        except self._errors.NotFoundError:
            raise FileNotFoundError(path) from None
    def copy_file(self, source, target): self._gfile.copy(source, target, overwrite=True)
    def rename_file(self, source, target): self._gfile.rename(source, target, overwrite=True)


def storage_for(path: str) -> Storage:
    return GfileStorage() if is_uri(path) else LocalStorage()


# ---- owners: who wrote a staging folder, a claim or a lock file -------------

def _boot_time_ticks(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (field 22 of
    /proc/<pid>/stat): with the pid it names one process, even after the pid is
    reused."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


_HOST = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())


def new_owner() -> str:
    """A name for one attempt by this process: host, pid, start time, nonce
    (no dots or separators inside a part, so it can sit in file names)."""
    pid = os.getpid()
    return OWNER_SEPARATOR.join([_HOST, str(pid), _boot_time_ticks(pid) or "0",
                                 uuid.uuid4().hex[:12]])


def owner_process_gone(owner: str) -> Optional[bool]:
    """True when `owner`'s process ran on this host and is gone; False when it
    is alive; None when this host cannot tell (another host, or not an owner
    name)."""
    parts = owner.split(OWNER_SEPARATOR)
    if len(parts) != 4 or parts[0] != _HOST or not parts[1].isdigit():
        return None
    started = _boot_time_ticks(int(parts[1]))
    return started is None or (parts[2] != "0" and started != parts[2])


# ---- local atomic renames --------------------------------------------------

_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100


def _renameat2(source: str, target: str, flags: int) -> None:
    """Linux renameat2: NOREPLACE fails if the target exists, EXCHANGE swaps two
    existing paths atomically. Raises OSError(ENOSYS/EINVAL) where unsupported."""
    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is None:
        raise OSError(errno.ENOSYS, "renameat2 unavailable")
    if function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target),
                flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), target)


def rename_no_replace(source: str, target: str) -> None:
    """Renames source to target; fails (FileExistsError) if target exists."""
    try:
        _renameat2(source, target, _RENAME_NOREPLACE)
        return
    except OSError as error:
        if error.errno not in (errno.ENOSYS, errno.EINVAL):
            if error.errno == errno.EEXIST:
                raise FileExistsError(errno.EEXIST, "exists", target) from None
            raise
    # No renameat2 here: os.rename refuses a non-empty target directory, and a
    # published folder is never empty.
    if os.path.exists(target):
        raise FileExistsError(errno.EEXIST, "exists", target)
    os.rename(source, target)


# ---- the primitives ---------------------------------------------------------

def copy_files(storage: Storage, source: str, target: str,
               last: Sequence[str] = (), extra: Optional[Dict[str, bytes]] = None,
               before_last: Optional[Callable[[], None]] = None) -> None:
    """Copies every file of folder `source` into `target`, then the `extra`
    files (name: content), then the files named in `last`, in that order (an
    extra file named in `last` is written after every other file).
    `before_last` runs just before the last files (a check that may raise)."""
    final = {n: c for n, c in (extra or {}).items() if n in last}
    extra = {n: c for n, c in (extra or {}).items() if n not in last}
    reader = storage_for(source)
    copier = GfileStorage() if is_uri(source) and storage.atomic_rename else storage
    names = [n for n in reader.files(source) if n not in last]
    present = set(names) | {n for n in last if reader.exists(reader.join(source, n))}
    made = set()
    for name in names + [n for n in last if n in present]:
        if name in last:
            for name_extra, content in (extra or {}).items():
                storage.write(storage.join(target, name_extra), content)
            extra = None
            if before_last:
                before_last()
                before_last = None
        folder = os.path.dirname(name)
        if folder not in made:
            storage.makedirs(storage.join(target, folder) if folder else target)
            made.add(folder)
        copier.copy_file(reader.join(source, name), storage.join(target, name))
    for name_extra, content in (extra or {}).items():
        storage.write(storage.join(target, name_extra), content)
    if before_last:
        before_last()
    for name_final, content in final.items():
        storage.write(storage.join(target, name_final), content)


def publish_once(source: str, target: str, storage: Storage, *, staging: str,
                 completion: str, extra: Optional[Dict[str, bytes]] = None,
                 before_commit: Optional[Callable[[], None]] = None) -> None:
    """Makes `target` appear holding local folder `source`'s files plus `extra`,
    once: an existing `target` is never replaced (FileExistsError).

    With atomic rename: copied to `staging` (a sibling) and renamed into place,
    so `target` never exists incomplete. Without: copied into `target` file by
    file, `completion` (a file of `source`) last, so no reader that waits for it
    sees an incomplete folder (`completion` may also be one of `extra`).
    `before_commit` runs before the rename or the
    completion file (it may raise, e.g. when a lock was lost). On any error,
    including KeyboardInterrupt, the partial copy is removed before the error
    propagates; only a killed process leaves one (see the callers' cleanup).
    """
    if storage.atomic_rename:
        if storage.exists(target):
            raise FileExistsError(errno.EEXIST, "exists", target)
        try:
            copy_files(storage, source, staging, extra=extra)
            if before_commit:
                before_commit()
            rename_no_replace(staging, target)
        finally:
            storage.rmtree(staging)
        return
    if storage.exists(storage.join(target, completion)):
        raise FileExistsError(errno.EEXIST, "exists", target)
    try:
        copy_files(storage, source, target, last=[completion], extra=extra,
                   before_last=before_commit)
    except BaseException:
        remove_partial(storage, target, completion)
        raise


def remove_partial(storage: Storage, folder: str, completion: str) -> None:
    """Removes a folder published without rename: its completion file first, so
    it stops counting as complete before anything else goes."""
    completion_path = storage.join(folder, completion)
    try:
        if storage.exists(completion_path):
            storage.remove(completion_path)
    except FileNotFoundError:
        pass
    storage.rmtree(folder)


def replace_folder(source: str, target: str, storage: Optional[Storage] = None, *,
                   completion: str,
                   lock_factory: Optional[Callable[[str], object]] = None) -> str:
    """Replaces folder `target` by a copy of local folder `source`; returns target.

    Locally: copied to `<target>.incoming-<owner>`, then exchanged with the old
    folder in one atomic rename (renameat2 RENAME_EXCHANGE), so a reader and a
    concurrent replace see one whole copy or another, never a mix. On object
    storage: under `lock_factory(target)` (a destination lock), the old
    completion file is removed first, the new files are copied with `completion`
    last and the old files the new copy lacks are removed.
    """
    storage = storage or storage_for(target)
    if not storage.atomic_rename:
        if lock_factory is None:
            raise ValueError("replacing a folder on object storage needs a lock")
        with lock_factory(target):
            storage.makedirs(target)
            old = set(_visible_files(storage, target))
            old_completion = storage.join(target, completion)
            if storage.exists(old_completion):
                storage.remove(old_completion)
            stale = sorted(old - set(storage_for(source).files(source)) - {completion})

            def remove_stale():
                for name in stale:
                    storage.remove(storage.join(target, name))
            copy_files(storage, source, target, last=[completion],
                       before_last=remove_stale)
        return target
    target = os.path.abspath(target)
    parent, base = os.path.split(target)
    os.makedirs(parent, exist_ok=True)
    remove_abandoned(storage, parent, [f"{base}{INCOMING_PREFIX}",
                                       f"{base}{RETIRED_PREFIX}"])
    owner = new_owner()
    incoming = f"{target}{INCOMING_PREFIX}{owner}"
    try:
        shutil.copytree(source, incoming)
        while True:
            try:
                _renameat2(incoming, target, _RENAME_EXCHANGE)
                break  # incoming now holds the old copy
            except OSError as error:
                if error.errno == errno.ENOENT and not os.path.exists(target):
                    try:
                        rename_no_replace(incoming, target)
                        return target
                    except FileExistsError:
                        continue  # another run published first: exchange with it
                if error.errno not in (errno.ENOSYS, errno.EINVAL):
                    raise
                _replace_by_two_renames(incoming, target, owner)
                return target
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    return target


def _replace_by_two_renames(incoming: str, target: str, owner: str) -> None:
    # Without renameat2: the old copy is moved aside, then the new one moved in;
    # for an instant there is no folder, never a mixed one.
    retired = f"{target}{RETIRED_PREFIX}{owner}"
    while True:
        try:
            os.rename(target, retired)
        except FileNotFoundError:
            pass
        try:
            os.rename(incoming, target)
            break
        except OSError as error:
            if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    shutil.rmtree(retired, ignore_errors=True)


def _visible_files(storage: Storage, folder: str) -> Iterable[str]:
    return [n for n in storage.files(folder) if not n.startswith(".")]


def remove_abandoned(storage: Storage, parent: str, prefixes: Sequence[str]) -> List[str]:
    """Removes entries of `parent` named `<prefix><owner>` whose owner's process
    is gone (on this host); returns what it removed. Entries of live owners, or
    of owners this host cannot judge, stay."""
    removed = []
    if not storage.exists(parent):
        return removed
    for name in storage.listdir(parent):
        for prefix in prefixes:
            if name.startswith(prefix) and \
                    owner_process_gone(name[len(prefix):]) is True:
                storage.rmtree(storage.join(parent, name))
                removed.append(name)
    return removed


def move_files(source: str, target: str) -> None:
    """Moves every file of `source` into `target`, file by file (object stores such
    as GCS rename files, not folders)."""
    storage = storage_for(source) if is_uri(source) else LocalStorage()
    storage.makedirs(target)
    for name in storage.listdir(source):
        storage.rename_file(storage.join(source, name), storage.join(target, name))
