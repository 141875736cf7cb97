"""SideEffectCheck: what the candidate made worse than a reference model on the
same test examples; under `evaluation.side_effects.policy: gate` it is part of
the blessing GatedPusher reads."""
from components.side_effects.component import SideEffectCheck

__all__ = ["SideEffectCheck"]
