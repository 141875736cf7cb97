"""Releasing a model to a push destination: once per model, never interleaved,
never half-visible, never reusing a version number.

Everything below happens under the destination's DestinationLock (in
`<destination>/.fairgate/lock/`, correct without rename or compare-and-swap):
  1. "already pushed?": a usable version with this model's fingerprint
     (serving_versions.find_push) ends the release;
  2. leftovers of pushes whose owner is gone are removed (see remove_leftovers);
  3. a version number is claimed: above every version folder and every claim
     ever made, and at least now in seconds; the claim
     (`.fairgate/claims/<version>.<owner>`) stays for good, so a number is never
     reused even when the folder was removed or clocks disagree;
  4. the model is published once (publication.publish_once): locally staged in
     `.incoming-<version>` and renamed into place, on object storage copied with
     saved_model.pb last (an artifact, no SavedModel: its push record last). The holder checks it still holds the lock just before.
An error during the copy (disk full, permission) removes the partial copy at
once and raises PushFailed naming the destination; a killed push leaves a
partial copy that step 2 of the next release removes.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Dict, Optional, Tuple

from fairgate import progress
from fairgate.release.destination_lock import DestinationLock, LockTimeout, lock_for, scan
from fairgate.release.publication import (CONTROL_DIR, INCOMING_PREFIX, Storage,
                                          owner_process_gone, publish_once, remove_partial,
                                          storage_for)
from fairgate.release.serving_versions import (PUSH_RECORD, SAVED_MODEL, completion_file,
                                               find_push, is_complete, versions)

CLAIMS_DIR = "claims"

log = logging.getLogger("fairgate.release")


class PushFailed(RuntimeError):
    """A push did not happen; nothing of it is left visible."""


def control_path(base: str, storage: Storage, *names: str) -> str:
    return storage.join(base, CONTROL_DIR, *names)


def claims(base: str, storage: Storage) -> Dict[int, str]:
    """{version: owner} of every version number ever claimed at base."""
    try:
        names = storage.listdir(control_path(base, storage, CLAIMS_DIR))
    except FileNotFoundError:
        return {}
    found = {}
    for name in names:
        number, _, owner = name.partition(".")
        if number.isdigit():
            found[int(number)] = owner
    return found


def next_version(base: str, storage: Optional[Storage] = None) -> int:
    """Now in seconds, but above every version folder and every claim (a clock
    behind another pod's must not make serving keep the older model as latest,
    nor reuse a number)."""
    storage = storage or storage_for(base)
    taken = [int(v) for v in versions(base, storage)] + list(claims(base, storage))
    return max([int(time.time())] + [v + 1 for v in taken])


def _owner_gone(owner: str, lock: DestinationLock) -> bool:
    """The owner of a claim is gone: its process is gone on this host, or it has
    no entry in the lock that this release holds (a live push keeps its ticket
    from before its claim until after its copy)."""
    if owner == lock.owner:
        return False
    if lock.storage.local_processes and owner_process_gone(owner) is True:
        return True
    return owner not in scan(lock.storage, lock.directory)


def remove_leftovers(base: str, storage: Storage, lock: DestinationLock) -> list:
    """Removes partial copies of pushes whose owner is gone: local staging
    folders `.incoming-<version>`, and on object storage numbered folders
    without saved_model.pb that a claim says fairgate wrote. A folder without a
    claim that is not a staging folder (put there by hand) is left alone; an
    unusable complete version is not a leftover either (serving_versions)."""
    owners = claims(base, storage)
    removed = []
    for name in storage.listdir(base):
        if name.startswith(INCOMING_PREFIX):
            version = name[len(INCOMING_PREFIX):]
        elif name.isdigit() and not storage.atomic_rename and \
                not is_complete(storage.join(base, name), storage):
            version = name
            if int(version) not in owners:
                continue
        else:
            continue
        owner = owners.get(int(version)) if version.isdigit() else None
        if owner is None or _owner_gone(owner, lock):
            path = storage.join(base, name)
            log.warning("Removing %s, the partial copy of a push that did not "
                        "finish (its process is gone).", path)
            remove_partial(storage, path, SAVED_MODEL)
            removed.append(name)
    return removed


def release(model_path: str, base: str, record: Dict[str, Any],
            storage: Optional[Storage] = None,
            **lock_options: Any) -> Tuple[str, bool]:
    """Pushes local SavedModel folder `model_path` to `base/<version>` unless a
    usable version already holds it. `record` (with "fingerprint"; "kind":
    "artifact" for a folder that is no SavedModel, which its push record
    completes) is written as the version's push record. Returns (version,
    pushed now)."""
    storage = storage or storage_for(base)
    model_fingerprint = record["fingerprint"]
    try:
        storage.makedirs(base)
        lock = lock_for(
            base, storage,
            purpose=f"push of model {model_fingerprint[:12]}",
            on_wait=lambda holder: progress.logger.info("Waiting for %s to finish its push to %s.",
                                                        holder, base),
            **lock_options)
        lock.acquire()
    except LockTimeout as error:
        raise PushFailed(f"push to {base} failed: {error}") from None
    except OSError as error:
        raise PushFailed(f"push to {base} failed: cannot lock it ({error})") from error
    try:
        found = find_push(base, model_fingerprint, storage)
        if found is not None:
            return found, False
        remove_leftovers(base, storage, lock)
        version = str(next_version(base, storage))
        target = storage.join(base, version)
        try:
            storage.makedirs(control_path(base, storage, CLAIMS_DIR))
            storage.write(control_path(base, storage, CLAIMS_DIR,
                                       f"{version}.{lock.owner}"),
                          json.dumps({"fingerprint": model_fingerprint}).encode())
            publish_once(
                model_path, target, storage,
                staging=storage.join(base, f"{INCOMING_PREFIX}{version}"),
                completion=completion_file(record.get("kind", "")),
                extra={PUSH_RECORD: json.dumps({**record, "version": version},
                                                indent=2).encode()},
                before_commit=lock.check_held)
        except Exception as error:  # OSError, LockLost, tf.errors.OpError
            raise PushFailed(
                f"push to {base} failed: {error}. Nothing was published: the "
                f"partial version {version} was removed.") from error
        return version, True
    finally:
        lock.release()
