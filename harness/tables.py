"""Terminal tables that never cut their key column (the metric name), whatever the console's width.

`print_table` draws a rich table when it fits with the key column whole and every other column at
least as wide as its longest word (wrapped at spaces, widest columns narrowed first); otherwise it
prints one block per row: the key on its own line, then `label: value` pairs wrapped between pairs.
`column_widths` makes that decision from the cells and a width alone, so it can be tested without a
terminal. Cells are plain text, never rich markup: a key such as `x.y [baseline]` prints as written.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

INDENT = "  "  # of the pairs under a block's key
_SEPARATOR = "  "  # between pairs on one line


def _longest_line(text: str) -> int:
    return max((cell_len(line) for line in text.splitlines()), default=0)


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def overhead(columns: int) -> int:
    """Characters a rich table (default box and padding) adds to its cells: a border and 2 spaces each, +1."""
    return 3 * columns + 1


def column_widths(header: Sequence[str], rows: Sequence[Sequence[str]], width: int, key: int = 0) -> list[int] | None:
    """Content widths of each column for a table at most `width` wide, or None when it cannot fit.

    The key column keeps its full width; the others shrink, widest first, down to their longest word.
    """
    columns = [[header[i], *(row[i] for row in rows)] for i in range(len(header))]
    natural = [max(_longest_line(cell) for cell in cells) for cells in columns]
    minimum = [natural[i] if i == key else max(_longest_word(c) for c in cells) for i, cells in enumerate(columns)]
    budget = width - overhead(len(header))
    if sum(minimum) > budget:
        return None
    if sum(natural) <= budget:
        return natural

    def capped(cap: int) -> list[int]:
        return [natural[i] if i == key else max(minimum[i], min(natural[i], cap)) for i in range(len(natural))]

    low, high = 0, max(natural)  # the largest cap whose widths fit
    while low < high:
        mid = (low + high + 1) // 2
        if sum(capped(mid)) <= budget:
            low = mid
        else:
            high = mid - 1
    return capped(low)


def _wrap_pairs(pairs: list[str], width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for pair in pairs:
        candidate = f"{current}{_SEPARATOR}{pair}" if current else pair
        if current and cell_len(INDENT + candidate) > width:
            lines.append(INDENT + current)
            current = pair
        else:
            current = candidate
    if current:
        lines.append(INDENT + current)
    return lines


def block_lines(header: Sequence[str], rows: Sequence[Sequence[str]], width: int, key: int = 0) -> list[list[str]]:
    """One block per row: its key, then the other cells as `label: value` pairs wrapped to `width`."""
    blocks = []
    for row in rows:
        pairs = [f"{header[i]}: {row[i] or '-'}" for i in range(len(header)) if i != key]
        blocks.append([row[key], *_wrap_pairs(pairs, width)])
    return blocks


def print_table(
    console: Console,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    key: int = 0,
    styles: Sequence[str | None] | None = None,
) -> None:
    """Print `rows` (strings, header first given apart) as a table, or as blocks when it cannot fit."""
    styles = list(styles) if styles is not None else [None] * len(rows)
    widths = column_widths(header, rows, console.width, key)
    if widths is None:
        if title:
            console.print(Text(title, style="italic"))
        for block, style in zip(block_lines(header, rows, console.width, key), styles, strict=True):
            console.print(Text(block[0], style=f"bold {style or ''}".strip()), no_wrap=True, crop=False)
            for line in block[1:]:
                console.print(Text(line, style=style or ""))
        return
    table = Table(title=title)
    for i, (name, width) in enumerate(zip(header, widths, strict=True)):
        if i == key:
            table.add_column(Text(name), width=width, no_wrap=True)
        else:
            table.add_column(Text(name), width=width, overflow="fold")
    for row, style in zip(rows, styles, strict=True):
        table.add_row(*(Text(cell) for cell in row), style=style)
    console.print(table)
