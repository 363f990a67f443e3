"""Template text: named variables (``{{first_name}}``), checked, rendered, and numbered for Meta.

A variable is ``{{`` a name ``}}`` with no spaces inside: ASCII letters, digits and ``_``, not
starting with a digit. Any other use of ``{{`` or ``}}`` is an error, so that a typo never
reaches a recipient as literal braces.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_VARIABLES = 50
MAX_BODY_LENGTH = 1024  # WhatsApp's limit on a template body


class TemplateTextError(ValueError):
    """A body that is not a valid template text; the message says what is wrong."""


def parse_variables(text: str) -> list[str]:
    """The variable names of ``text`` in the order they first appear; raises `TemplateTextError`."""
    names: list[str] = []
    for match in PLACEHOLDER.finditer(text):
        name = match.group(1)
        if not NAME.match(name):
            raise TemplateTextError(
                f"{{{{{name}}}}} is not a valid variable: use letters, digits and _ "
                "(not starting with a digit), without spaces, e.g. {{first_name}}."
            )
        if name not in names:
            names.append(name)
    rest = PLACEHOLDER.sub("", text)
    if "{{" in rest or "}}" in rest:
        raise TemplateTextError("Unbalanced {{ or }}: a variable is written {{name}}.")
    if len(names) > MAX_VARIABLES:
        raise TemplateTextError(f"At most {MAX_VARIABLES} different variables are allowed.")
    return names


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every variable replaced by its value (values are inserted as given)."""
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def numbered(text: str, variables: list[str]) -> str:
    """``text`` with each named variable replaced by its position, as Meta's positional
    format writes it (``{{first_name}}`` → ``{{1}}``); a repeated variable keeps its number."""
    positions = {name: index for index, name in enumerate(variables, start=1)}
    return PLACEHOLDER.sub(lambda match: f"{{{{{positions[match.group(1)]}}}}}", text)
