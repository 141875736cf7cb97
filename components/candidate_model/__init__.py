"""A candidate trained elsewhere, brought into the DAG: the imported SavedModel
or artifact folder copied into a Model artifact (Format-Serving), with the
record of where it came from."""
from components.candidate_model.component import CandidateModel

__all__ = ["CandidateModel"]
