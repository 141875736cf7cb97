"""What the TFX Trainer imports. Kept in its own folder because TFX packages every
.py beside the module file into the Trainer's wheel and cache key.

So far: `models` (the tutorial MLP and a small CNN), `constraints` (constraint spec
-> TFCO problem) and `tfco_compat` (the only
module touching TFCO's training internals: a compiled proxy-Lagrangian step and
iterate selection). The run_fn, training loop, selection on the eval split and
export are the open TFCO Trainer issue."""
