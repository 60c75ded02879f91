"""Rich tables for the terminal.

Every text that comes from records (component names and params, corpus labels,
warnings, errors) is escaped before it reaches rich, whose markup would
otherwise eat ``[nan, nan]`` or ``[draft]``.

A board is read by its row names, so they never give way to the console's width
(rich would cut them to ``cnn4…`` while numbers keep their width): the rank and
identity columns keep their full width, headers wrap (or fold) and value columns
narrow to their longest word, so a number is never cut either; where even that
does not fit the console, the table is written long instead, one block per row.
"""

from __future__ import annotations

import re

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from serbench.leaderboard.table import Cell, Table
from serbench.leaderboard.text import UNRELIABLE_MARK

PADDING = 2  # rich's default cell padding: one space each side
UNIT = re.compile(r"\S+(?: ± \S+)?")  # what a value column never breaks: a word, or a whole ``61.5 ± 1.5``


def markup(cell: Cell) -> str:
    """A cell in rich markup: failures red, the best value bold green, a yellow ⚠ where it carries warnings."""
    text = escape(cell.text)
    if cell.only_failed:
        return f"[red]{text}[/red]"
    if cell.best:
        text = f"[bold green]{text}[/bold green]"
    if cell.failed:
        text = text.replace(f"(+{cell.failed} failed)", f"[red](+{cell.failed} failed)[/red]")
    if cell.marks:
        text += " [yellow]⚠[/yellow]"
    return text + (f" [red]{UNRELIABLE_MARK} unreliable[/red]" if cell.unreliable else "")


class TerminalTable:
    """A table that fits the console it is printed on: a grid where its row names stay whole, else one block
    per row (``1. model + defense`` then ``column: value`` lines). Decided at print time from the console's
    width (``COLUMNS`` or the terminal's size), so the same object prints right on any console."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.texts = [[Text.from_markup(markup(cell)) for cell in row] for row in table.cells]

    def fixed(self, column: int) -> bool:
        """Is the column kept whole: the rank and the identity columns?"""
        return self.table.left_aligned(column) or (self.table.ranked and column == 0)

    def natural_widths(self) -> list[int]:
        """Each column's width with nothing wrapped."""
        return [max([cell_len(head)] + [row[i].cell_len for row in self.texts])
                for i, head in enumerate(self.table.header)]

    def min_widths(self) -> list[int]:
        """The narrowest each column may be: whole for the fixed ones, the longest unit of a value column's cells
        (a word, or a mean with its spread; its header may fold)."""
        natural = self.natural_widths()
        return [natural[i] if self.fixed(i) else
                max([1] + [cell_len(unit) for row in self.texts for unit in UNIT.findall(row[i].plain)])
                for i in range(len(natural))]

    def extra_width(self) -> int:
        """Borders and padding around ``n`` columns: an edge each side, a line between columns."""
        n = len(self.table.header)
        return n * PADDING + n + 1

    def widths(self, max_width: int) -> list[int] | None:
        """Column widths (without padding) that fit ``max_width``, or None where the grid cannot fit: value
        columns shrink, the widest first, down to their header's longest word, then (headers folding) to their
        cells' longest word, never below."""
        widths, floor = self.natural_widths(), self.min_widths()
        room = max_width - self.extra_width()
        if sum(floor) > room:
            return None
        headers = [max(f, *(cell_len(w) for w in head.split())) if head.strip() else f
                   for f, head in zip(floor, self.table.header)]
        for limit in (headers, floor):
            excess = sum(widths) - room
            while excess > 0 and any(w > m for w, m in zip(widths, limit)):
                widest = max((i for i in range(len(widths)) if widths[i] > limit[i]), key=lambda i: widths[i])
                widths[widest] -= 1
                excess -= 1
        return widths

    def grid(self, widths: list[int] | None = None) -> RichTable:
        """The table as a rich grid; ``widths``: each column's, from :meth:`widths` (None: natural)."""
        table = self.table
        notes = ([table.caption] if table.caption else []) + table.notes
        out = RichTable(title=escape(table.terminal_title or table.title), title_justify="left",
                        caption=escape("\n".join(notes)) or None, caption_justify="left")
        for i, head in enumerate(table.header):
            out.add_column(escape(head), justify="left" if table.left_aligned(i) else "right",
                           width=None if widths is None else widths[i], no_wrap=self.fixed(i), overflow="fold")
        for row in self.texts:
            out.add_row(*row)
        return out

    def long(self) -> list[Text]:
        """One block per row: its rank and names on a line, then ``column: value`` lines; then the notes."""
        table = self.table
        ids = [i for i in range(len(table.header)) if table.left_aligned(i)]
        joiner = " + " if [table.header[i] for i in ids] == ["model", "defense"] else " · "
        lines = [Text(table.terminal_title or table.title, style="table.title")]
        for r, row in enumerate(self.texts):
            head = Text(joiner).join(row[i] for i in ids)
            if table.ranked:
                head = Text.assemble(f"{row[0].plain}. ", head)
            lines += [Text(""), head]
            lines += [Text.assemble("   ", table.header[i], ": ", row[i])
                      for i in range(len(table.header)) if i not in ids and not (table.ranked and i == 0)]
        notes = ([table.caption] if table.caption else []) + table.notes
        if notes:
            lines += [Text("")] + [Text(note, style="table.caption") for note in notes]
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self.widths(options.max_width)
        if widths is None:
            yield from self.long()
        else:
            yield self.grid(widths)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        natural = sum(self.natural_widths()) + self.extra_width()
        return Measurement(min(natural, options.max_width), min(natural, options.max_width))


def rich_table(table: Table) -> TerminalTable:
    """The table for ``console.print``: a grid that keeps row names whole, or the long layout where the console is
    too narrow for one."""
    return TerminalTable(table)


def footnotes(table: Table) -> list[str]:
    """The table's warnings (numbered as its cells' marks) and failures, one rich-markup line each."""
    lines = [f"  [yellow]⚠{i} {escape(w)}[/yellow]" for i, w in enumerate(table.warnings, 1)]
    return lines + [f"  [red]failed:[/red] {escape(e)}" for e in table.failures]
