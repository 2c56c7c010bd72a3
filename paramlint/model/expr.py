"""``${...}`` integer arithmetic for block arguments: + - * // and parentheses,
and the functions ``max``, ``min`` and ``make_divisible``.

A tiny recursive-descent parser over a bounded token list; never ``eval``.

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "//") unary)*
    unary      := "-" unary | atom
    atom       := INTEGER | NAME | FUNCTION "(" expression ("," expression)* ")" | "(" expression ")"

``make_divisible(v, divisor)`` and ``make_divisible(v, divisor, min_value)``
round a channel count as torchvision's ``_make_divisible`` does: to the nearest multiple of
``divisor``, at least ``min_value`` (default ``divisor``), and one more
``divisor`` where rounding down would lose more than 10%.  (Ultralytics'
``make_divisible`` rounds up instead: ``${(x + d - 1) // d * d}``.)
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

MAX_LENGTH = 200
MAX_MAGNITUDE = 10**18

_TOKEN = re.compile(r"\s*(?:([0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*(),]))")


class ExprError(ValueError):
    pass


def _tokenize(text: str) -> List[Tuple[str, str]]:
    tokens: List[Tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            rest = text[position:].strip()
            if not rest:
                break
            raise ExprError(f"unexpected {rest[0]!r} in ${{{text}}}: only integers, argument names, "
                            f"+ - * //, parentheses, max, min and make_divisible are allowed")
        number, name, op = match.groups()
        tokens.append(("int", number) if number else ("name", name) if name else ("op", op))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, env: Mapping[str, Any]) -> None:
        self.text = text
        self.env = env
        self.tokens = _tokenize(text)
        self.position = 0
        self.depth = 0

    def peek(self) -> Tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self) -> Tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def parse(self) -> int:
        if not self.tokens:
            raise ExprError("empty expression ${}")
        value = self.expression()
        if self.peek()[0] != "end":
            raise ExprError(f"unexpected {self.peek()[1]!r} in ${{{self.text}}}")
        return value

    def expression(self) -> int:
        value = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            value = self._bounded(value + self.term() if op == "+" else value - self.term())
        return value

    def term(self) -> int:
        value = self.unary()
        while self.peek() in (("op", "*"), ("op", "//")):
            op = self.take()[1]
            right = self.unary()
            if op == "*":
                value = self._bounded(value * right)
            elif right == 0:
                raise ExprError(f"division by zero in ${{{self.text}}}")
            else:
                value //= right
        return value

    def unary(self) -> int:
        if self.peek() == ("op", "-"):
            self.take()
            self._enter()
            value = -self.unary()
            self.depth -= 1
            return value
        return self.atom()

    def atom(self) -> int:
        kind, text = self.take()
        if kind == "int":
            return self._bounded(int(text))
        if kind == "name" and self.peek() == ("op", "(") and text in FUNCTIONS:
            return self.call(text)
        if kind == "name":
            if text in FUNCTIONS and text not in self.env:
                raise ExprError(f"{text} is a function: write {text}(...) in ${{{self.text}}}")
            if text not in self.env:
                known = ", ".join(sorted(self.env)) or "none"
                raise ExprError(f"unknown argument {text!r} in ${{{self.text}}} (arguments: {known})")
            value = self.env[text]
            if not isinstance(value, int) or isinstance(value, bool):
                raise ExprError(f"argument {text!r} is {value!r}, not an integer, in ${{{self.text}}}")
            return value
        if (kind, text) == ("op", "("):
            self._enter()
            value = self.expression()
            if self.take() != ("op", ")"):
                raise ExprError(f"missing ')' in ${{{self.text}}}")
            self.depth -= 1
            return value
        raise ExprError(f"expected a number, a name or '(' in ${{{self.text}}}, got {text or 'the end'!r}")

    def call(self, name: str) -> int:
        self.take()  # "("
        self._enter()
        values = [self.expression()]
        while self.peek() == ("op", ","):
            self.take()
            values.append(self.expression())
        if self.take() != ("op", ")"):
            raise ExprError(f"missing ')' after the arguments of {name} in ${{{self.text}}}")
        self.depth -= 1
        low, high, _ = FUNCTIONS[name]
        if not low <= len(values) <= high:
            wanted = f"{low}" if low == high else f"{low} or {high}" if high == low + 1 else f"{low} or more"
            raise ExprError(f"{name} takes {wanted} arguments, got {len(values)}, in ${{{self.text}}}")
        return self._bounded(FUNCTIONS[name][2](values, self.text))

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > 50:
            raise ExprError(f"expression nested too deeply: ${{{self.text[:40]}...}}")

    def _bounded(self, value: int) -> int:
        if abs(value) > MAX_MAGNITUDE:
            raise ExprError(f"value out of range (|x| > 10^18) in ${{{self.text}}}")
        return value


def make_divisible(value: int, divisor: int, min_value: Optional[int] = None) -> int:
    """torchvision's ``_make_divisible``: ``value`` rounded to the nearest multiple of ``divisor`` (halves up),
    at least ``min_value`` (default ``divisor``), and never more than 10% below ``value``."""
    if min_value is None:
        min_value = divisor
    doubled = 2 * value + divisor  # int(value + divisor / 2) truncates toward zero
    truncated = doubled // 2 if doubled >= 0 else -(-doubled // 2)
    rounded = max(min_value, truncated // divisor * divisor)
    if 10 * rounded < 9 * value:
        rounded += divisor
    return rounded


def _make_divisible(values: List[int], text: str) -> int:
    if values[1] < 1:
        raise ExprError(f"make_divisible needs a positive divisor, got {values[1]}, in ${{{text}}}")
    return make_divisible(*values)


# name -> (fewest arguments, most arguments, function of the values)
FUNCTIONS: Dict[str, Tuple[int, int, Callable[[List[int], str], int]]] = {
    "max": (2, 2 ** 31, lambda values, text: max(values)),
    "min": (2, 2 ** 31, lambda values, text: min(values)),
    "make_divisible": (2, 3, _make_divisible),
}


def evaluate(text: str, env: Mapping[str, Any]) -> int:
    """Evaluate the inside of ``${...}`` with the block's arguments."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    return _Parser(text, env).parse()
