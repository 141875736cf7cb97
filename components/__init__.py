"""fairgate's custom TFX components, one folder each (component, executor)."""
