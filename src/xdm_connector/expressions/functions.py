"""The functions an expression may call: canonical names, numbers of arguments, summaries.

Names match case-insensitively (``lower``, ``LOWER`` and ``Lower`` are one function); the
syntax tree keeps the canonical spelling. Types are checked by the compiler
(:func:`~.calls.function_types` tells them); the summaries are what the mapping language's
reference shows.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Signature:
    """A function's canonical name, how many arguments it takes (``None``: any number), what
    it does in one line, and the names its summary gives its arguments (the last one
    repeats when it takes any number)."""

    name: str
    min_args: int
    max_args: int | None
    summary: str
    parameters: tuple[str, ...]

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
        Signature(
            "Iif",
            3,
            3,
            "`a` when `condition` is true, else (false or NULL) `b`",
            ("condition", "a", "b"),
        ),
        Signature("Lower", 1, 1, "`text` in lower case", ("text",)),
        Signature("Upper", 1, 1, "`text` in upper case", ("text",)),
        Signature("Trim", 1, 1, "`text` without its leading and trailing spaces", ("text",)),
        Signature("Concat", 1, None, "the texts joined end to end", ("text",)),
        Signature(
            "Substring",
            3,
            3,
            "`length` characters of `text` from position `start` (the first is 1)",
            ("text", "start", "length"),
        ),
        Signature("Length", 1, 1, "the number of characters of `text`", ("text",)),
        Signature("Coalesce", 1, None, "the first value that is not NULL", ("value",)),
        Signature("IsNull", 1, 1, "whether `value` is NULL (never NULL itself)", ("value",)),
        Signature(
            "ToString",
            1,
            1,
            "`value` as text: `true`/`false`, `2024-01-31`, `2024-01-31T12:30:00`, "
            "numbers as the database writes them",
            ("value",),
        ),
        Signature(
            "ToInteger",
            1,
            1,
            "`value` as an integer: numbers truncated toward zero, booleans as 1/0, "
            "strings parsed by the database",
            ("value",),
        ),
        Signature("ToDate", 1, 1, "the day of a date-time, or a string read as a date", ("value",)),
        Signature(
            "ToDateTime",
            1,
            1,
            "a date at midnight, or a string read as a date-time",
            ("value",),
        ),
        Signature("Year", 1, 1, "the year of `date`", ("date",)),
        Signature("Month", 1, 1, "the month of `date`, 1 to 12", ("date",)),
        Signature("Day", 1, 1, "the day of the month of `date`, 1 to 31", ("date",)),
        Signature(
            "EXDM",
            1,
            1,
            "the XDM field's enumeration value for `value`; only as the whole expression",
            ("value",),
        ),
    )
}


def find_signature(name: str) -> Signature | None:
    """The function called ``name`` in any letter case, or ``None``."""
    return SIGNATURES.get(name.lower())
