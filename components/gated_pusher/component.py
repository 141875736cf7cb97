"""GatedPusher: TFX's Pusher (same spec, inputs and outputs) with fairgate's executor."""
from tfx.components.pusher.component import Pusher
from tfx.dsl.components.base import executor_spec

from components.gated_pusher import executor


class GatedPusher(Pusher):
    """Pushes the model to `push_destination.filesystem.base_directory/<version>`
    only when `model_blessing` says BLESSED.

    Differences from TFX's Pusher (fairgate.release holds the protocol):
      * a model already pushed there (same content fingerprint, in a usable
        version) is not pushed again; the output records the existing version;
      * pushes to one destination never interleave (a lock that needs no atomic
        rename), version numbers are never reused, and a serving system never
        sees a half-written version (locally: staged and renamed into place; on
        object storage: saved_model.pb last); a failed push removes its partial
        copy at once, a killed one is removed by the next push.
    """

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
