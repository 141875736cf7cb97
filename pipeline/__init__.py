"""Assembles fairgate's TFX pipeline; read pipeline.py to follow a record end to end."""
