"""Executor of GatedPusher: blessed only, once per model, never interleaved
(fairgate.release holds the protocol)."""
from __future__ import annotations

import time
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from fairgate import progress
from fairgate.candidate import read_record as candidate_record
from fairgate.release import protocol
from fairgate.release.publication import storage_for
from fairgate.release.serving_versions import ARTIFACT, fingerprint

NEW_PUSH_KEY = "fairgate_new_push"  # 1: this execution copied the model
NOTHING_TO_PUSH_KEY = "fairgate_nothing_to_push"  # 1: scores alone, no artifact


class Executor(tfx_pusher.Executor):

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        model_push.set_int_custom_property(NEW_PUSH_KEY, 0)
        model_push.set_int_custom_property(NOTHING_TO_PUSH_KEY, 0)
        if not self.CheckBlessing(input_dict):
            logging.info("Model not blessed: nothing pushed.")
            self._MarkNotPushed(model_push)
            return
        model = artifact_utils.get_single_instance(
            input_dict[standard_component_specs.MODEL_KEY])
        candidate = candidate_record(model.uri)  # {} for a model trained here
        if candidate and not candidate.get("files"):
            progress.logger.info("Blessed scores without candidate.artifact: nothing "
                                 "to push.")
            model_push.set_int_custom_property(NOTHING_TO_PUSH_KEY, 1)
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
        record = {"fingerprint": model_fingerprint, "model_uri": model.uri,
                  "pushed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if candidate:
            record["source"] = candidate.get("source", "")
        if candidate.get("mode") == "predictions":  # any folder, no SavedModel
            record["kind"] = ARTIFACT
        version, new = protocol.release(model_path, base, record)
        where = storage_for(base).join(base, version)
        if new:
            model_push.set_int_custom_property(NEW_PUSH_KEY, 1)
            progress.logger.info("Model pushed to %s.", where)
        else:
            progress.logger.info("Model %s is already pushed as %s: not pushed again.",
                                 model_fingerprint[:12], where)
        self._MarkPushed(model_push, pushed_destination=where, pushed_version=version)
