"""The neutral table that boards and the paper layouts both produce and every writer only renders.

Deciding what a table shows (the rank order, the best value of a column, which
warnings a cell carries and their numbers, which row is unreliable) is its
producer's job (:mod:`.board_table`, :mod:`.layouts`), done once; the Markdown,
terminal, HTML and JSON writers render the facts a cell and a table carry, so
every format shows the same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cell:
    """One cell: its text and the facts a writer styles (bold best, ⚠ marks, failures, the † mark)."""

    text: str
    sort_value: str | None = None  # what a sortable view orders its column by ("": last; None: the text)
    best: bool = False  # the best value of its column
    marks: tuple[int, ...] = ()  # the numbers of the table's warnings this cell carries
    failed: int = 0  # how many of the cell's records failed
    errors: tuple[str, ...] = ()  # why they failed
    only_failed: bool = False  # every record failed: the text says so, there is no value
    unreliable: bool = False  # names a row ranked as unreliable (gradient-masking warnings): the † mark


@dataclass
class Table:
    """A titled table: a header, rows of cells and what is said under it.

    Columns: a rank column (``#``) where ``ranked``, then ``label_columns`` columns that name the row (left
    aligned), then values (right aligned).
    """

    slug: str
    title: str
    header: list[str]
    cells: list[list[Cell]]
    notes: list[str] = field(default_factory=list)  # lines under the table
    label_columns: int = 2
    ranked: bool = False
    caption: str | None = None  # a paragraph under the table: how it is ranked and marked
    warnings: list[str] = field(default_factory=list)  # numbered from 1, as the cells' marks
    failures: list[str] = field(default_factory=list)  # every distinct reason a record failed
    terminal_title: str | None = None  # where the terminal names the metric otherwise (``macro-F1``)
    # Markdown: a board's texts come from records and may hold '|' or newlines anywhere, so it escapes both in
    # title, header, cells and footnotes; a paper layout escapes '|' in its body cells only.
    escape_everywhere: bool = False

    @classmethod
    def of_texts(cls, slug: str, title: str, header: list[str], rows: list[list[str]], notes: list[str],
                 label_columns: int = 2) -> Table:
        """A table of plain texts (a paper layout: no marks)."""
        return cls(slug, title, header, [[Cell(text) for text in row] for row in rows], notes, label_columns)

    @property
    def rows(self) -> list[list[str]]:
        """The cells' texts, row by row."""
        return [[cell.text for cell in row] for row in self.cells]

    def left_aligned(self, column: int) -> bool:
        """Does the column name the row (text, left aligned) rather than hold a rank or a value?"""
        first = 1 if self.ranked else 0
        return first <= column < first + self.label_columns

    def cell_warnings(self, cell: Cell) -> list[str]:
        """The warnings a cell's marks stand for."""
        return [self.warnings[mark - 1] for mark in cell.marks]

    def as_dict(self) -> dict[str, Any]:
        """The table as JSON writes it: texts only."""
        return {"slug": self.slug, "title": self.title, "header": self.header, "rows": self.rows, "notes": self.notes,
                "label_columns": self.label_columns}
