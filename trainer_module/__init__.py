"""What the TFX Trainer imports (run_fn and its layers). Not yet built: see the
TFCO Trainer issue. Kept in its own folder because TFX packages every .py beside
the module file into the Trainer's wheel and cache key."""
