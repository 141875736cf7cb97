"""The README's config reference is the schema's: every key, its default, its meaning."""
import os
import re
import subprocess
import sys

import pytest

from fairgate import config, config_reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
STALE = (f"the README's config reference differs from the schema in fairgate/config.py: "
         f"regenerate it with `{config_reference.REGENERATE}` from the repository root "
         f"(in a checkout other than the installed one: `PYTHONPATH=. python -m "
         f"fairgate.cli {config_reference.REGENERATE.split(' ', 1)[1]}`) and commit "
         "README.md")


def _readme_reference() -> str:
    with open(README) as f:
        return config_reference.section_in(f.read())


def _schema_keys(schema, node=None, prefix=""):
    """Every dotted key of the JSON Schema, read from the schema itself (not through
    the generator), so a key the generator skipped is caught too."""
    node = schema if node is None else node
    for name, prop in node.get("properties", {}).items():
        yield f"{prefix}{name}"
        for alt in [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]:
            if "$ref" in alt:
                sub = schema["$defs"][alt["$ref"].rsplit("/", 1)[-1]]
                yield from _schema_keys(schema, sub, f"{prefix}{name}.")


def test_readme_reference_is_the_generated_one():
    assert _readme_reference() == config_reference.markdown(), STALE


def test_every_schema_key_is_in_the_readme_with_a_meaning():
    keys = list(_schema_keys(config.json_schema()))
    assert {"name", "data.source", "trainer.model.module_file",
            "evaluation.side_effects.margin", "kubeflow.image"} <= set(keys)
    rows = {}
    for line in _readme_reference().splitlines():
        found = re.match(r"\| `([^`]+)` \| (.*) \| (.*) \| (.*) \|$", line)
        if found:
            rows[found.group(1)] = found.groups()[1:]
    missing = [key for key in keys if key not in rows]
    assert not missing, f"not in the README: {missing}; {STALE}"
    assert not set(rows) - set(keys), "the README lists keys the schema does not have"
    undescribed = [key for key, (_, _, meaning) in rows.items() if not meaning.strip()]
    assert not undescribed, ("keys without a meaning: give each a docstring under its "
                             f"field in fairgate/config.py: {undescribed}")


def test_defaults_and_types_come_from_the_schema():
    by_key = {key: (kind, default) for key, kind, default, _ in config_reference.rows()}
    defaults = config.Config()
    assert by_key["trainer.batch_size"] == (
        "integer >= 1", f"{defaults.trainer.batch_size}")
    assert by_key["data.unseen_category_tolerance"][0] == "number in [0, 1)"
    assert by_key["trainer.selection_level"] == ("0 or number in (0.5, 1)", "0.75")
    assert by_key["evaluation.groups"][1] == "[0, 1]"  # a default factory, called
    assert by_key["trainer.model.module_file"][1] == config_reference.REQUIRED
    assert by_key["data.source"][0] == "one of " + ", ".join(
        f"`{source}`" for source in config.SOURCES)


def test_write_replaces_only_the_reference(tmp_path):
    path = tmp_path / "README.md"
    path.write_text(f"# Title\n\nbefore\n\n{config_reference.BEGIN}\nold table\n"
                    f"{config_reference.END}\n\nafter\n")
    assert config_reference.write(str(path)) is True
    text = path.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert config_reference.section_in(text) == config_reference.markdown()
    assert config_reference.write(str(path)) is False  # already current
    assert path.read_text() == text
    (tmp_path / "plain.md").write_text("no markers\n")
    with pytest.raises(ValueError, match="no config reference between the markers"):
        config_reference.write(str(tmp_path / "plain.md"))


def test_cli_prints_and_writes_the_reference(tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT}
    printed = subprocess.run(
        [sys.executable, "-m", "fairgate.cli", "schema", "--markdown"],
        capture_output=True, text=True, check=True, env=env, cwd=tmp_path)
    assert printed.stdout == config_reference.markdown()
    target = tmp_path / "README.md"
    target.write_text(f"{config_reference.BEGIN}\n{config_reference.END}\n")
    wrote = subprocess.run(
        [sys.executable, "-m", "fairgate.cli", "schema", "--markdown", "--write",
         str(target)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stderr
    assert config_reference.section_in(target.read_text()) == config_reference.markdown()
    refused = subprocess.run(
        [sys.executable, "-m", "fairgate.cli", "schema", "--write", str(target)],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "--write needs --markdown" in refused.stderr


def test_every_yaml_example_in_the_readme_loads():
    """The README's examples use keys and values the schema accepts (as loading
    checks them; a model module's path is read from configs/, as the examples
    there are written)."""
    import yaml
    with open(README) as f:
        blocks = re.findall(r"```yaml\n(.*?)```", f.read(), re.S)
    assert len(blocks) >= 4
    origin = os.path.join(ROOT, "configs", "README.md")
    for block in blocks:
        loaded = config.from_dict(yaml.safe_load(block), origin=origin)
        assert isinstance(loaded, config.Config)
