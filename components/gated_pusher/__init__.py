"""A Pusher that pushes only blessed models, each model once, atomically."""
from components.gated_pusher.component import GatedPusher

__all__ = ["GatedPusher"]
