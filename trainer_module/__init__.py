"""What the TFX Trainer imports: `run_fn.run_fn` and its layers. Kept in its own
folder because TFX packages every .py beside a module file into the Trainer's
wheel and cache key.

constraints (spec -> TFCO problem) | tfco_compat (the only module touching TFCO's
training internals) | training (compiled loop, snapshots) | selection (choice of
iterate) | models (building blocks) | regularizers | export (raw-input serving) |
autograph_rules (AutoGraph leaves tf-keras and TFCO alone; applied on import).
"""
from trainer_module import autograph_rules  # noqa: E402,F401  (before any tf.function)
