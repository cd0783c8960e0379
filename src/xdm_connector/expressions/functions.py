"""The functions an expression may call: canonical names and numbers of arguments.

Names match case-insensitively (``lower``, ``LOWER`` and ``Lower`` are one function); the
syntax tree keeps the canonical spelling. Types are checked by the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    """A function's canonical name and how many arguments it takes (``None``: any number)."""

    name: str
    min_args: int
    max_args: int | None

    def arity_error(self, given: int) -> str | None:
        """Why ``given`` arguments are wrong for this function, or ``None``."""
        if given >= self.min_args and (self.max_args is None or given <= self.max_args):
            return None
        if self.max_args is None:
            expected = f"at least {self.min_args}"
        elif self.min_args == self.max_args:
            expected = str(self.min_args)
        else:
            expected = f"{self.min_args} to {self.max_args}"
        noun = "argument" if expected == "1" else "arguments"
        return f"{self.name} takes {expected} {noun}, got {given}"


SIGNATURES: dict[str, Signature] = {
    signature.name.lower(): signature
    for signature in (
        Signature("Iif", 3, 3),
        Signature("Lower", 1, 1),
        Signature("Upper", 1, 1),
        Signature("Trim", 1, 1),
        Signature("Concat", 1, None),
        Signature("Substring", 3, 3),
        Signature("Length", 1, 1),
        Signature("Coalesce", 1, None),
        Signature("IsNull", 1, 1),
        Signature("ToString", 1, 1),
        Signature("ToInteger", 1, 1),
        Signature("ToDate", 1, 1),
        Signature("ToDateTime", 1, 1),
        Signature("Year", 1, 1),
        Signature("Month", 1, 1),
        Signature("Day", 1, 1),
        Signature("EXDM", 1, 1),
    )
}


def find_signature(name: str) -> Signature | None:
    """The function called ``name`` in any letter case, or ``None``."""
    return SIGNATURES.get(name.lower())
