"""Markdown, as the reference writes it: tables, lists of words, and filled paragraphs."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence

WIDTH = 92


def words(words: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table of ``rows`` under ``header``; cells must hold no ``|``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def reflowed(markdown: str) -> str:
    """``markdown`` with its paragraphs and list items filled to ``WIDTH`` columns; code
    blocks, tables, headings and comments as they are. Code spans are never broken, so
    that no line starts with a character Markdown would read as a list or a quote."""
    blocks = []
    fenced = False
    for block in markdown.split("\n\n"):
        kept = fenced or block.startswith(("```", "|", "#", "<!--"))
        fenced ^= block.count("```") % 2 == 1
        if kept:
            blocks.append(block)
        elif block.startswith("- "):
            items = re.split(r"\n(?=- )", block)
            blocks.append("\n".join(_filled(item[2:], "- ", "  ") for item in items))
        else:
            blocks.append(_filled(block, "", ""))
    return "\n\n".join(blocks)


def _filled(text: str, first: str, then: str) -> str:
    glued = re.sub(r"`[^`]*`", lambda span: span.group(0).replace(" ", "\0"), text)
    filled = textwrap.fill(
        " ".join(glued.split()),
        width=WIDTH,
        initial_indent=first,
        subsequent_indent=then,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return filled.replace("\0", " ")
