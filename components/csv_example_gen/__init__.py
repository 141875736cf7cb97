"""CSV ingestion that maps labels and merges group values (see component.py)."""
from components.csv_example_gen.component import csv_example_gen

__all__ = ["csv_example_gen"]
