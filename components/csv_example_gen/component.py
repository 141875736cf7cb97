"""The CSV ExampleGen: TFX's FileBasedExampleGen (CsvExampleGen's spec and driver)
running csv_example_gen.Executor, addressed by its dotted path, so every runner
(including a Kubeflow pod running the project image) runs the same code."""
from __future__ import annotations

from typing import Any, Dict, Optional

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec

from components.csv_example_gen import executor


def csv_example_gen(input_base: str, mapping: Dict[str, Any],
                    input_config: Optional[Any] = None,
                    output_config: Optional[Any] = None):
    """`mapping`: {label, label_positive, label_negative, group, group_merge};
    unset values are left out. The node keeps the id CsvExampleGen."""
    settings = {k: v for k, v in mapping.items() if v not in (None, {}, "")}
    return FileBasedExampleGen(
        input_base=input_base, input_config=input_config,
        output_config=output_config,
        custom_config=executor.pack_settings(settings) if settings else None,
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
    ).with_id("CsvExampleGen")
