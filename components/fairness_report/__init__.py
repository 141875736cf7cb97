"""The pipeline's last step: the fairness report as an artifact and at a stable path."""
from components.fairness_report.component import FairnessReport, FairnessReportGen

__all__ = ["FairnessReport", "FairnessReportGen"]
