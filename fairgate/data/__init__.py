"""The data stage: what fairgate checks, reads and generates before training.

`preflight` (checks before a run starts), `csv_content` and `leakage` (what a CSV
holds and which columns give the group away), `run_columns` (the label and group
columns of a run), `images` and `image_summary` (image bytes and what the report
says of them), `celeba_layout` (datasets in TFDS `celeb_a`'s layout) and
`embedded_celeba` (the generated default dataset).
"""
