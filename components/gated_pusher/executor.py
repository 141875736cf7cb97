"""Executor of GatedPusher: blessed only, once per model, atomic."""
from __future__ import annotations

import hashlib
import json
import os
import time
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from fairgate.config import is_uri

MARKER = "fairgate_push.json"  # written inside every pushed version
INCOMING_PREFIX = ".incoming-"
NEW_PUSH_KEY = "fairgate_new_push"  # 1: this execution copied the model


def fingerprint(model_dir: str) -> str:
    """sha256 over the relative paths and contents of every file of a SavedModel."""
    digest = hashlib.sha256()
    for root, _, files in sorted(fileio.walk(model_dir)):
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, model_dir).encode())
            with fileio.open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def pushed_versions(base_directory: str) -> List[str]:
    """Version folders under base_directory (numeric names), oldest first. On
    object storage one may be incomplete: see is_complete."""
    if not fileio.exists(base_directory):
        return []
    names = [n.rstrip("/") for n in fileio.listdir(base_directory)]
    return sorted((n for n in names if n.isdigit()), key=int)


def is_complete(version_dir: str) -> bool:
    """A model server can load it: saved_model.pb is there (written last on object
    storage; locally the whole folder appears by one rename)."""
    return fileio.exists(os.path.join(version_dir, "saved_model.pb"))


def find_push(base_directory: str, model_fingerprint: str) -> Optional[str]:
    """The complete version holding this model, if any (a push interrupted on
    object storage before saved_model.pb does not count: the model is pushed
    again)."""
    for version in pushed_versions(base_directory):
        marker = os.path.join(base_directory, version, MARKER)
        if fileio.exists(marker) and is_complete(os.path.join(base_directory, version)):
            with fileio.open(marker, "r") as f:
                if json.load(f).get("fingerprint") == model_fingerprint:
                    return version
    return None


def _remove_leftovers(base_directory: str) -> None:
    # One Pusher runs per pipeline run; a push interrupted earlier left these.
    for name in fileio.listdir(base_directory):
        if name.rstrip("/").startswith(INCOMING_PREFIX):
            path = os.path.join(base_directory, name.rstrip("/"))
            logging.warning("Removing %s, left by an interrupted push.", path)
            fileio.rmtree(path)


def next_version(base_directory: str) -> int:
    """Now in seconds, but always above every existing version (a clock behind
    another pod's must not make serving keep the older model as latest)."""
    existing = [int(v) for v in pushed_versions(base_directory)]
    return max([int(time.time())] + [v + 1 for v in existing])


def push(model_path: str, base_directory: str, record: Dict[str, Any]) -> str:
    """Copies model_path to base_directory/<new version>; returns the version.

    Local filesystems: copied into `.incoming-<version>` and renamed into place,
    so a numbered folder is always complete. Object storage (a URI) has no atomic
    rename: the files are copied straight into the numbered folder with
    saved_model.pb last, so a model server finds no loadable model before every
    variable file is there.
    """
    fileio.makedirs(base_directory)
    _remove_leftovers(base_directory)
    version = str(next_version(base_directory))
    record = {**record, "version": version}
    final = os.path.join(base_directory, version)
    if is_uri(base_directory):
        io_utils.copy_dir(model_path, final, deny_regex_patterns=[r"saved_model\.pb"])
        with fileio.open(os.path.join(final, MARKER), "w") as f:
            json.dump(record, f, indent=2)
        io_utils.copy_file(os.path.join(model_path, "saved_model.pb"),
                           os.path.join(final, "saved_model.pb"))
        return version
    incoming = os.path.join(base_directory, f"{INCOMING_PREFIX}{version}")
    io_utils.copy_dir(model_path, incoming)
    with fileio.open(os.path.join(incoming, MARKER), "w") as f:
        json.dump(record, f, indent=2)
    fileio.rename(incoming, final)
    return version


class Executor(tfx_pusher.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        model_push.set_int_custom_property(NEW_PUSH_KEY, 0)
        if not self.CheckBlessing(input_dict):
            logging.info("Model not blessed: nothing pushed.")
            self._MarkNotPushed(model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise ValueError("GatedPusher pushes to a filesystem destination only, "
                             f"got {destination.WhichOneof('destination')}")
        base = destination.filesystem.base_directory
        model_path = self.GetModelPath(input_dict)
        model_fingerprint = fingerprint(model_path)
        version = find_push(base, model_fingerprint)
        if version is not None:
            logging.info("Model %s is already pushed as %s: not pushed again.",
                         model_fingerprint[:12], os.path.join(base, version))
        else:
            model = artifact_utils.get_single_instance(
                input_dict[standard_component_specs.MODEL_KEY])
            version = push(model_path, base, {
                "fingerprint": model_fingerprint, "model_uri": model.uri,
                "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            model_push.set_int_custom_property(NEW_PUSH_KEY, 1)
            logging.info("Model pushed to %s.", os.path.join(base, version))
        self._MarkPushed(model_push, pushed_destination=os.path.join(base, version),
                         pushed_version=version)
