"""Escaping per output format: text from a config (names, paths, messages quoting values) cannot forge output.

A YAML string can hold any character through its escapes (``"\\e[31m"``,
``"\\n"``, ``"\\a"``) and a file name can hold a newline: raw in a terminal they
recolour or rewrite the screen, in a GitHub log a newline followed by
``::warning`` is a forged annotation, in Markdown ``<img>`` is HTML.
"""
from __future__ import annotations

import re

# C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional overrides (Trojan Source).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNPRINTABLE_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}
_HTML = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}
_HTML_QUOTED = {**_HTML, ord('"'): "&quot;", ord("'"): "&#x27;"}


def html_escape(text: str, quote: bool = True) -> str:
    """``&``, ``<``, ``>`` (and with ``quote`` both quotes) as entities, as ``html.escape`` writes them (the
    ``html`` package, with its table of 2,231 entities, costs 2 ms to import for every text run)."""
    return text.translate(_HTML_QUOTED if quote else _HTML)


def _escape_char(match: "re.Match[str]") -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def printable(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\e``, ``\\x07``, ``\\u202e``)."""
    pattern = _UNPRINTABLE_BUT_NEWLINE if keep_newlines else _UNPRINTABLE
    return pattern.sub(_escape_char, str(text))


def log_line(text: str) -> str:
    """One line of a GitHub Actions log that the runner cannot read as a workflow command."""
    line = printable(text)
    return "%3A" + line[1:] if line.startswith("::") else line


def markdown_text(text: str) -> str:
    """Text for a Markdown table cell: one line, HTML as text, ``|`` escaped."""
    return html_escape(" ".join(printable(text).split()), quote=False).replace("|", "\\|")


def markdown_code(text: str) -> str:
    """``text`` as inline code in a table cell (HTML is text inside a code span); with a backtick, which
    would end the span, as an escaped ``<code>``."""
    shown = " ".join(printable(text).split())
    if "`" not in shown:
        return "`" + shown.replace("|", "\\|") + "`"
    return "<code>" + html_escape(shown, quote=False).replace("|", "&#124;").replace("`", "&#96;") + "</code>"
