"""Papermill's parameter translator for Swift: values become `let name = value` lines."""

import math
import re

from papermill.exceptions import PapermillException
from papermill.models import Parameter
from papermill.translators import Translator

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# `let name = value` or `let name: Type = value`, with an optional `// help` after it.
_DECLARATION = re.compile(
    r"^\s*(?:let|var)\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?::\s*(?P<type>[^=]+?))?\s*=\s*(?P<value>.*?)\s*(?://\s*(?P<help>.*))?$"
)


def _escape_character(ch):
    simple = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}
    if ch in simple:
        return simple[ch]
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        raise PapermillException(f"a Swift string cannot hold the lone surrogate U+{code:04X}")
    if code < 0x20 or code == 0x7F:
        return "\\u{%X}" % code
    return ch


def _literal_type(value):
    """The Swift type a literal in a parameters cell has, or "None" when it is not plain."""
    if value in ("true", "false"):
        return "Bool"
    if re.fullmatch(r"-?\d[\d_]*", value):
        return "Int"
    if re.fullmatch(r"-?\d[\d_]*(\.\d[\d_]*)?([eE][-+]?\d+)?", value):
        return "Double"
    if value.startswith('"'):
        return "String"
    return "None"


class SwiftTranslator(Translator):
    """Renders papermill parameters as Swift constants: `let rows = 8`.

    Int (64-bit), Double (finite), String, Bool and lists of them (Swift arrays) are supported;
    None, dictionaries and anything else are refused, as Swift has no untyped literal for them.
    """

    @classmethod
    def translate_str(cls, val):
        return '"' + "".join(_escape_character(ch) for ch in val) + '"'

    @classmethod
    def translate_escaped_str(cls, str_val):
        raise PapermillException(f"a {type(str_val).__name__} parameter has no Swift literal: {str_val!r}")

    @classmethod
    def translate_none(cls, val):
        raise PapermillException("a Swift parameter cannot be None (null)")

    @classmethod
    def translate_int(cls, val):
        if not INT64_MIN <= val <= INT64_MAX:
            raise PapermillException(f"the parameter value {val} does not fit in a Swift Int (64 bits)")
        return str(val)

    @classmethod
    def translate_float(cls, val):
        if not math.isfinite(val):
            raise PapermillException(f"a Swift Double parameter must be finite, not {val}")
        text = repr(val)
        # repr gives `2.5`, `1e-05` or `1e+16`, all Swift Double literals as they are.
        return text if any(c in text for c in ".eE") else text + ".0"

    @classmethod
    def translate_bool(cls, val):
        return "true" if val else "false"

    @classmethod
    def translate_dict(cls, val):
        raise PapermillException("a Swift parameter cannot be a dictionary")

    @classmethod
    def translate_list(cls, val):
        return "[" + ", ".join(cls.translate(v) for v in val) + "]"

    @classmethod
    def comment(cls, cmt_str):
        return f"// {cmt_str}".strip()

    @classmethod
    def assign(cls, name, str_val):
        return f"let {name} = {str_val}"

    @classmethod
    def inspect(cls, parameters_cell):
        """The `let`/`var` declarations of the parameters cell, one a line."""
        parameters = []
        for line in parameters_cell.source.splitlines():
            match = _DECLARATION.match(line)
            if not match:
                continue
            value = match.group("value")
            type_name = (match.group("type") or "").strip() or _literal_type(value)
            parameters.append(Parameter(match.group("name"), type_name, value, (match.group("help") or "").strip()))
        return parameters
