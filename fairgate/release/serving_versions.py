"""The versions at a push destination and the one rule of a *usable* model in
serving, shared by ServingModel (which version is the baseline), the Evaluator
(is that baseline still current) and GatedPusher (is this model already pushed).

A version is a folder with a numeric name, as TF Serving and Vertex read them.
It is usable when a model server could load it:
  * `saved_model.pb` is there and parses as a SavedModel (a truncated file does
    not);
  * the variables it needs are there: `variables/variables.index` and every
    `variables.data-<k>-of-<n>` shard, when the graph saves variables;
  * when GatedPusher pushed it (its push record names the content fingerprint),
    its files still have that fingerprint (nothing was cut or replaced since).
A folder someone put there by hand counts when it passes the first two.

An *artifact* version (candidate.artifact: any folder, pushed when scores were
judged) has no saved_model.pb: its push record, written last, marks it
complete, and it is usable while its files keep the recorded fingerprint.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Dict, List, Optional, Tuple

from fairgate.release.publication import Storage, storage_for

PUSH_RECORD = "fairgate_push.json"   # written inside every version GatedPusher pushes
SAVED_MODEL = "saved_model.pb"        # written last: its presence makes a version loadable
ARTIFACT = "artifact"                 # push record "kind" of a folder that is no SavedModel
_SHARD = re.compile(r"variables\.data-(\d+)-of-(\d+)$")


def versions(base: str, storage: Optional[Storage] = None) -> List[str]:
    """Version folders under base (numeric names), oldest first."""
    storage = storage or storage_for(base)
    try:
        names = storage.listdir(base)
    except FileNotFoundError:
        return []
    return sorted((n for n in names if n.isdigit()), key=int)


def fingerprint(model_dir: str, storage: Optional[Storage] = None) -> str:
    """sha256 over the relative paths and contents of every file of a SavedModel
    (a version's push record excluded)."""
    storage = storage or storage_for(model_dir)
    digest = hashlib.sha256()
    for name in storage.files(model_dir):
        if name == PUSH_RECORD:
            continue
        digest.update(name.encode())
        digest.update(storage.read(storage.join(model_dir, name)))
    return digest.hexdigest()


def push_record(version_dir: str, storage: Optional[Storage] = None) -> Dict[str, Any]:
    """GatedPusher's record in a version ({} when it has none or it is unreadable)."""
    storage = storage or storage_for(version_dir)
    try:
        return json.loads(storage.read(storage.join(version_dir, PUSH_RECORD)))
    except (FileNotFoundError, ValueError):
        return {}


def unusable_reason(version_dir: str, storage: Optional[Storage] = None) -> Optional[str]:
    """None when a model server could load the version, else why not (naming
    the file)."""
    storage = storage or storage_for(version_dir)
    record = push_record(version_dir, storage)
    if record.get("kind") == ARTIFACT:
        if fingerprint(version_dir, storage) != record.get("fingerprint"):
            return (f"its files differ from what GatedPusher pushed (content "
                    f"fingerprint {str(record.get('fingerprint'))[:12]}... in "
                    f"{PUSH_RECORD})")
        return None
    graph_path = storage.join(version_dir, SAVED_MODEL)
    try:
        graph = storage.read(graph_path)
    except FileNotFoundError:
        return f"{SAVED_MODEL} is missing (an incomplete copy, or not a SavedModel)"
    from tensorflow.core.protobuf import saved_model_pb2  # only when judging one
    from google.protobuf.message import DecodeError
    model = saved_model_pb2.SavedModel()
    try:
        model.ParseFromString(graph)
    except DecodeError as error:
        return (f"{graph_path} does not parse as a SavedModel ({len(graph)} bytes: "
                f"{error})")
    if not model.meta_graphs:
        return f"{graph_path} holds no graph ({len(graph)} bytes)"
    variables = storage.join(version_dir, "variables")
    try:
        present = set(storage.listdir(variables))
    except FileNotFoundError:
        present = set()
    needs_variables = any(g.HasField("saver_def") for g in model.meta_graphs)
    shards = {m.group(2) for m in map(_SHARD.match, present) if m}
    if needs_variables or shards:
        if "variables.index" not in present:
            return f"{storage.join(variables, 'variables.index')} is missing"
        for count in shards or {"00001"}:
            for k in range(int(count)):
                name = f"variables.data-{k:05d}-of-{count}"
                if name not in present:
                    return f"{storage.join(variables, name)} is missing"
    recorded = push_record(version_dir, storage).get("fingerprint")
    if recorded and fingerprint(version_dir, storage) != recorded:
        return (f"its files differ from what GatedPusher pushed (content fingerprint "
                f"{recorded[:12]}... in {PUSH_RECORD})")
    return None


def completion_file(kind: str = "") -> str:
    """The file whose presence makes a pushed version complete: saved_model.pb,
    or for an artifact its push record."""
    return PUSH_RECORD if kind == ARTIFACT else SAVED_MODEL


def is_complete(version_dir: str, storage: Storage) -> bool:
    """Its completion file is there (an artifact's push record, else
    saved_model.pb): what a copy without rename writes last."""
    if storage.exists(storage.join(version_dir, SAVED_MODEL)):
        return True
    return push_record(version_dir, storage).get("kind") == ARTIFACT


def newest_usable(base: str, storage: Optional[Storage] = None
                  ) -> Tuple[Optional[str], List[Dict[str, str]]]:
    """(the newest usable version or None, the newer versions found unusable as
    [{version, path, reason}], newest first)."""
    storage = storage or storage_for(base)
    skipped: List[Dict[str, str]] = []
    for version in reversed(versions(base, storage)):
        path = storage.join(base, version)
        reason = unusable_reason(path, storage)
        if reason is None:
            return version, skipped
        skipped.append({"version": version, "path": path, "reason": reason})
    return None, skipped


def find_push(base: str, model_fingerprint: str,
              storage: Optional[Storage] = None) -> Optional[str]:
    """The usable version holding this model, if any. A version that stopped
    being usable does not count: the model is pushed again."""
    storage = storage or storage_for(base)
    for version in reversed(versions(base, storage)):
        path = storage.join(base, version)
        if push_record(path, storage).get("fingerprint") == model_fingerprint and \
                unusable_reason(path, storage) is None:
            return version
    return None

