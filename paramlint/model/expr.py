"""``${...}`` integer arithmetic for block arguments: + - * // and parentheses.

A tiny recursive-descent parser over a bounded token list; never ``eval``.

    expression := term (("+" | "-") term)*
    term       := unary (("*" | "//") unary)*
    unary      := "-" unary | atom
    atom       := INTEGER | NAME | "(" expression ")"
"""
from __future__ import annotations

import re
from typing import Any, List, Mapping, Tuple

MAX_LENGTH = 200
MAX_MAGNITUDE = 10**18

_TOKEN = re.compile(r"\s*(?:([0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*()]))")


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
                            f"+ - * // and parentheses are allowed")
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
        if kind == "name":
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

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > 50:
            raise ExprError(f"expression nested too deeply: ${{{self.text[:40]}...}}")

    def _bounded(self, value: int) -> int:
        if abs(value) > MAX_MAGNITUDE:
            raise ExprError(f"value out of range (|x| > 10^18) in ${{{self.text}}}")
        return value


def evaluate(text: str, env: Mapping[str, Any]) -> int:
    """Evaluate the inside of ``${...}`` with the block's arguments."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    return _Parser(text, env).parse()
