"""The part of CEL (Common Expression Language) that a `triggerPolicy.condition`
of a TFX-compiled spec uses, evaluated as the open-source KFP driver does.

The driver (kubeflow/pipelines 2.0.5, `backend/src/v2/expression/expression.go`
`(*Expr).Condition`) evaluates the condition with cel-go over the resolved
ExecutorInput, its fields named as in the proto (`inputs.parameter_values`,
`inputs.artifacts['k'].artifacts[0].metadata['m']`, `.uri`), and requires a
bool. TFX emits (tfx 1.16 `compiler_utils.placeholder_to_cel`): literals
(strings in single quotes, numbers as doubles), member access, indexing, `==`,
`!=`, `<`, `<=`, `>`, `>=`, `!`, `&&`, `||` and parentheses. This module
evaluates exactly that subset and refuses anything else by name, rather than
guessing.
"""
from __future__ import annotations

import re
from typing import Any, List, Tuple

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\].])
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""", re.VERBOSE)


class ConditionError(ValueError):
    """The condition is outside the supported subset, or not a bool."""


def _tokens(text: str) -> List[Tuple[str, str]]:
    out, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise ConditionError(f"cannot read {text[position:]!r} in condition {text!r}")
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


class _Parser:
    def __init__(self, text: str, variables: dict):
        self.text, self.tokens, self.i, self.vars = text, _tokens(text), 0, variables

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, value=None):
        token = self.peek()
        if token[0] is None or (value is not None and token[1] != value):
            raise ConditionError(f"expected {value or 'more'} in condition {self.text!r}")
        self.i += 1
        return token

    def parse(self):
        value = self.or_()
        if self.i != len(self.tokens):
            raise ConditionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return value

    def or_(self):
        value = self.and_()
        while self.peek()[1] == "||":
            self.take()
            right = self.and_()
            value = _bool(value, self.text) or _bool(right, self.text)
        return value

    def and_(self):
        value = self.compare()
        while self.peek()[1] == "&&":
            self.take()
            right = self.compare()
            value = _bool(value, self.text) and _bool(right, self.text)
        return value

    def compare(self):
        value = self.unary()
        op = self.peek()[1]
        if op in ("==", "!=", "<", "<=", ">", ">="):
            self.take()
            right = self.unary()
            if op in ("==", "!="):
                return (value == right) == (op == "==")
            if type(value) is not type(right) and not (
                    isinstance(value, float) and isinstance(right, float)):
                raise ConditionError(f"no such overload: {op} on {value!r}, {right!r}")
            return {"<": value < right, "<=": value <= right, ">": value > right,
                    ">=": value >= right}[op]
        return value

    def unary(self):
        if self.peek()[1] == "!":
            self.take()
            return not _bool(self.unary(), self.text)
        return self.postfix()

    def postfix(self):
        value = self.primary()
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                name = self.take()[1]
                value = _lookup(value, name, self.text)
            else:
                index = self.or_()
                self.take("]")
                if isinstance(index, float) and index.is_integer():
                    index = int(index)
                value = _lookup(value, index, self.text)
        return value

    def primary(self):
        kind, text = self.take()
        if kind == "number":
            return float(text)
        if kind == "string":
            return bytes(text[1:-1], "utf-8").decode("unicode_escape")
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind == "name":
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            if text in self.vars:
                return self.vars[text]
            raise ConditionError(f"undeclared reference to '{text}' in {self.text!r}")
        raise ConditionError(f"unexpected {text!r} in condition {self.text!r}")


def _lookup(value: Any, key: Any, text: str) -> Any:
    try:
        return value[key]
    except (KeyError, IndexError, TypeError):
        raise ConditionError(f"no such key: {key!r} in condition {text!r}") from None


def _bool(value: Any, text: str) -> bool:
    if not isinstance(value, bool):
        raise ConditionError(f"evaluation error: return type is not bool ({text!r})")
    return value


def evaluate(condition: str, executor_input: dict) -> bool:
    """The condition's value over an ExecutorInput given as a dict with proto
    field names (json_format.MessageToDict(..., preserving_proto_field_name=True));
    numbers are doubles, as in protobuf Struct values."""
    variables = {"inputs": executor_input.get("inputs", {}),
                 "outputs": executor_input.get("outputs", {})}
    return _bool(_Parser(condition, variables).parse(), condition)
