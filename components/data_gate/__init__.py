"""The data-validation gate: stops a run before training when the data is bad."""
from components.data_gate.component import DataValidationGate

__all__ = ["DataValidationGate"]
