"""The part of CEL (Common Expression Language) that a `triggerPolicy.condition`
of a TFX-compiled spec uses, evaluated as the open-source KFP driver does.

The driver (kubeflow/pipelines 2.0.5, `backend/src/v2/expression/expression.go`
`(*Expr).Condition`) evaluates the condition with cel-go over the resolved
ExecutorInput, its fields named as in the proto (`inputs.parameter_values`,
`inputs.artifacts['k'].artifacts[0].metadata['m']`, `.uri`), and requires a
bool. TFX emits (tfx 1.16 `compiler_utils.placeholder_to_cel`): literals
(strings in single quotes, numbers as doubles, negative ones with a minus),
member access, indexing, `==`, `!=`, `<`, `<=`, `>`, `>=`, `!`, `&&`, `||`
(short-circuiting, as CEL's) and parentheses. This module
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
    | (?P<op>==|!=|<=|>=|&&|\|\||[-<>!()\[\].])
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
    """Parses into nodes first, so that `&&` and `||` can short-circuit as CEL's
    do (`false && <error>` is false); evaluation is _eval."""

    def __init__(self, text: str):
        self.text, self.tokens, self.i = text, _tokens(text), 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def take(self, value=None):
        token = self.peek()
        if token[0] is None or (value is not None and token[1] != value):
            raise ConditionError(f"expected {value or 'more'} in condition {self.text!r}")
        self.i += 1
        return token

    def parse(self):
        node = self.or_()
        if self.i != len(self.tokens):
            raise ConditionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return node

    def _chain(self, op, operand):
        node = operand()
        while self.peek()[1] == op:
            self.take()
            node = (op, node, operand())
        return node

    def or_(self):
        return self._chain("||", self.and_)

    def and_(self):
        return self._chain("&&", self.compare)

    def compare(self):
        node = self.unary()
        if self.peek()[1] in ("==", "!=", "<", "<=", ">", ">="):
            op = self.take()[1]
            node = (op, node, self.unary())
        return node

    def unary(self):
        if self.peek()[1] in ("!", "-"):
            op = self.take()[1]
            return ("neg" if op == "-" else "!", self.unary())
        return self.postfix()

    def postfix(self):
        node = self.primary()
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                node = ("get", node, ("literal", self.take()[1]))
            else:
                index = self.or_()
                self.take("]")
                node = ("get", node, index)
        return node

    def primary(self):
        kind, text = self.take()
        if kind == "number":
            return ("literal", float(text))
        if kind == "string":
            return ("literal", _unquote(text))
        if text == "(":
            node = self.or_()
            self.take(")")
            return node
        if kind == "name":
            if self.peek()[1] == "(":
                raise ConditionError(f"function call {text}(...) is outside the subset "
                                     f"of CEL that TFX emits, in {self.text!r}")
            if text in ("true", "false", "null"):
                return ("literal", {"true": True, "false": False, "null": None}[text])
            return ("name", text)
        raise ConditionError(f"unexpected {text!r} in condition {self.text!r}")


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}


def _unquote(literal: str) -> str:
    """A quoted CEL string's text (the common escapes; any other character,
    non-ASCII included, as written)."""
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body) and body[i + 1] in _ESCAPES:
            out.append(_ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _eval(node, variables: dict, text: str):
    kind = node[0]
    if kind == "literal":
        return node[1]
    if kind == "name":
        if node[1] not in variables:
            raise ConditionError(f"undeclared reference to '{node[1]}' in {text!r}")
        return variables[node[1]]
    if kind == "get":
        key = _eval(node[2], variables, text)
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        return _lookup(_eval(node[1], variables, text), key, text)
    if kind == "!":
        return not _bool(_eval(node[1], variables, text), text)
    if kind == "neg":
        value = _eval(node[1], variables, text)
        if not isinstance(value, float):
            raise ConditionError(f"no such overload: -{value!r} in {text!r}")
        return -value
    if kind in ("&&", "||"):
        # CEL: `false && x` is false and `true || x` is true even if x fails.
        try:
            left = _bool(_eval(node[1], variables, text), text)
        except ConditionError:
            left = None
        if left is (kind == "||"):
            return left
        right = _bool(_eval(node[2], variables, text), text)
        if right is (kind == "||") or left is not None:
            return right
        return _bool(_eval(node[1], variables, text), text)  # re-raise the left error
    left, right = _eval(node[1], variables, text), _eval(node[2], variables, text)
    if kind in ("==", "!="):
        return (left == right) == (kind == "==")
    if type(left) is not type(right) or not isinstance(left, (float, str)):
        raise ConditionError(f"no such overload: {kind} on {left!r}, {right!r}")
    return {"<": left < right, "<=": left <= right, ">": left > right,
            ">=": left >= right}[kind]


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
    return _bool(_eval(_Parser(condition).parse(), variables, condition), condition)
