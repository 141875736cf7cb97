"""The config reference: every key of a run config with its type, default and
meaning, as Markdown tables generated from the schema (`fairgate/config.py`).

The README's "Config reference" section is this text between `BEGIN` and `END`;
`tests/test_config_reference.py` fails when they differ, so a key added to the
schema cannot be missing from the README. Regenerate with `REGENERATE`.

Types, choices and bounds come from the JSON Schema `fairgate schema` prints (so
the reference is as precise as the validation), defaults from the models' own
defaults (default factories included), meanings from each key's docstring.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

import yaml
from pydantic import BaseModel

from fairgate import config as config_lib

REGENERATE = "fairgate schema --markdown --write README.md"
BEGIN = f"<!-- config reference: generated from fairgate/config.py by `{REGENERATE}` -->"
END = "<!-- end of the generated config reference -->"
REQUIRED = "(required)"


def _resolve(schema: Dict[str, Any], node: Dict[str, Any]) -> Dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        return schema["$defs"][ref.rsplit("/", 1)[-1]]
    return node


def _bounds(node: Dict[str, Any]) -> str:
    low = ("[", node["minimum"]) if "minimum" in node else \
        ("(", node["exclusiveMinimum"]) if "exclusiveMinimum" in node else None
    high = (node["maximum"], "]") if "maximum" in node else \
        (node["exclusiveMaximum"], ")") if "exclusiveMaximum" in node else None
    if low and high:
        return f" in {low[0]}{low[1]:g}, {high[0]:g}{high[1]}"
    if low:
        return f" {'>=' if low[0] == '[' else '>'} {low[1]:g}"
    if high:
        return f" {'<=' if high[1] == ']' else '<'} {high[0]:g}"
    return ""


_TYPES = {"string": "string", "integer": "integer", "number": "number",
          "boolean": "true/false", "null": "null", "object": "mapping",
          "array": "list"}


def type_text(schema: Dict[str, Any], node: Dict[str, Any]) -> str:
    """A JSON Schema node in words: `one of a, b`, `integer >= 1`, `list of string`."""
    if "$ref" in node:
        return "mapping (keys below)"
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    alternatives = node.get("anyOf") or node.get("oneOf")
    if alternatives:
        parts = [type_text(schema, {k: v for k, v in {**node, **alt}.items()
                                    if k not in ("anyOf", "oneOf")})
                 for alt in alternatives]
        return " or ".join(dict.fromkeys(part for part in parts if part))
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(_TYPES.get(k, k) for k in kind)
    if kind == "array":
        items = node.get("items")
        text = "list" + (f" of {type_text(schema, items)}" if items else "")
        if "minItems" in node and node.get("minItems") == node.get("maxItems"):
            item = type_text(schema, items) if items else "any"
            text = "[" + ", ".join([item] * node["minItems"]) + "]"
        elif "minItems" in node:
            text += f", at least {node['minItems']}"
        return text
    if kind == "object":
        values = node.get("additionalProperties")
        if isinstance(values, dict) and values:
            return f"mapping to {type_text(schema, values)}"
        return "mapping"
    text = _TYPES.get(kind, "") if kind else "any"
    if kind == "string" and node.get("minLength") == 1:
        text = "non-empty string"
    return text + (_bounds(node) if kind in ("integer", "number") else "")


def _default_text(value: Any) -> str:
    if isinstance(value, BaseModel):
        return ""
    if value == "":
        return '""'
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000,
                          sort_keys=False).strip()
    return text[:-4].strip() if text.endswith("\n...") else text


def _cell(text: str, code: bool = False) -> str:
    """Markdown table cell: one line, `|` escaped, `<` kept from becoming HTML
    (inside a code span it is shown as written)."""
    text = re.sub(r"\s+", " ", text).strip().replace("|", "\\|")
    return text if code else text.replace("<", "&lt;")


def _sections(schema, model, node, prefix) -> Iterator[Tuple[str, Any, Dict, List]]:
    """(dotted name, model, its schema, rows) per section, parents first."""
    rows, nested = [], []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        prop = node["properties"][name]
        sub = _section_of(prop)
        default = REQUIRED if field.is_required() else \
            _default_text(field.get_default(call_default_factory=True))
        meaning = field.description or ""
        if sub and not meaning:
            meaning = f"The `{key}:` section (its keys below)."
        rows.append((key, type_text(schema, prop), default, meaning))
        if sub:
            sub_model = _model_for(model, name, sub)
            nested.append((f"{key}.", sub_model, _resolve(schema, {"$ref": sub})))
    yield prefix.rstrip("."), model, node, rows
    for sub_prefix, sub_model, sub_node in nested:
        yield from _sections(schema, sub_model, sub_node, sub_prefix)


def _section_of(prop: Dict[str, Any]) -> Optional[str]:
    """The $ref of a section a key holds (directly or as one alternative)."""
    if "$ref" in prop:
        return prop["$ref"]
    for alt in prop.get("anyOf", []) + prop.get("oneOf", []):
        if "$ref" in alt:
            return alt["$ref"]
    return None


def _model_for(model, name, ref):
    wanted = ref.rsplit("/", 1)[-1]
    found = config_lib._section_type(model.model_fields[name].annotation)
    if found is None or found.__name__ != wanted:
        raise RuntimeError(f"no section model {wanted} under {model.__name__}.{name}")
    return found


def rows() -> List[Tuple[str, str, str, str]]:
    """Every key: (dotted key, type, default, meaning), in reference order."""
    schema = config_lib.json_schema()
    return [row for _, _, _, section_rows in
            _sections(schema, config_lib.Config, schema, "") for row in section_rows]


def markdown() -> str:
    """The reference section's text (between BEGIN and END)."""
    schema = config_lib.json_schema()
    out = []
    for name, model, _, section_rows in _sections(schema, config_lib.Config, schema,
                                                  ""):
        title = f"`{name}:`" if name else "Top level"
        # "The `data:` section: where ..." -> "where ...", under a `data:` title.
        doc = re.sub(r"^The `[^`]+` section: (.)", lambda m: m.group(1).upper(),
                     _cell(model.__doc__ or ""))
        if name == "trainer.model":
            doc += " These keys apply when `trainer.model` is a mapping."
        out += ["", f"**{title}** {doc}", "",
                "| key | type | default | meaning |", "|---|---|---|---|"]
        for key, kind, default, meaning in section_rows:
            default = "" if not default else default if \
                default == REQUIRED else f"`{_cell(default, code=True)}`"
            out.append(f"| `{key}` | {_cell(kind)} | {default} | {_cell(meaning)} |")
    return "\n".join(out[1:]) + "\n"


def section_in(text: str, where: str = "README.md") -> str:
    """The generated part of a document (between the markers)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{where} has no config reference between the markers "
                         f"{BEGIN!r} and {END!r}")
    return text[start + len(BEGIN):end].strip("\n") + "\n"


def write(path: str) -> bool:
    """Replaces the reference in `path` with the current one; True if it changed."""
    with open(path) as f:
        text = f.read()
    old = section_in(text, path)
    new = markdown()
    if old == new:
        return False
    start, end = text.find(BEGIN) + len(BEGIN), text.find(END)
    with open(path, "w") as f:
        f.write(text[:start] + "\n" + new + text[end:])
    return True
