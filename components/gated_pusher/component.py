"""GatedPusher: TFX's Pusher (same spec, inputs and outputs) with fairgate's executor."""
from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.gated_pusher import executor


class GatedPusher(tfx.components.Pusher):
    """Pushes the model to `push_destination.filesystem.base_directory/<version>`
    only when `model_blessing` says BLESSED.

    Differences from TFX's Pusher:
      * a model already pushed there (same content fingerprint) is not pushed
        again; the output records the existing version instead;
      * the copy is written to a hidden `.incoming-*` directory and renamed into
        place, so a serving system never sees a half-written version; leftovers of
        an interrupted push are removed by the next push.
    """

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
