"""Terminal output of ``relukit study``: rich progress bars for the studies' loops and summary tables."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TypeVar

from relukit.report import tables

T = TypeVar("T")


class BarProgress:
    """The studies' ``progress(items, description)``: one transient bar per loop, and one for the run.

    Studies run in worker processes get no loop bars; a line as each starts and ends shows where they are.
    """

    def __init__(self, bars, total_studies: int) -> None:
        self.bars = bars
        self.overall = bars.add_task("studies", total=total_studies)

    def __call__(self, items: Iterable[T], description: str = "") -> Iterator[T]:
        total = len(items) if hasattr(items, "__len__") else None
        task = self.bars.add_task(description, total=total)
        try:
            for item in items:
                yield item
                self.bars.advance(task)
        finally:
            self.bars.remove_task(task)

    def study_started(self, key: str) -> None:
        self.bars.console.print(f"{key}: started")

    def study_done(self, key: str, seconds: float) -> None:
        self.bars.advance(self.overall)
        self.bars.console.print(f"{key}: done in {seconds:.0f} s")


@contextlib.contextmanager
def progress_bars(total_studies: int) -> Iterator[BarProgress]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<36}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as bars:
        yield BarProgress(bars, total_studies)


def print_summary(console, key: str, result: dict) -> None:
    """The study's summary tables, printed with rich."""
    from rich.markup import escape
    from rich.table import Table

    for summary in tables.summaries(key, result):
        table = Table(title=escape(f"{key}: {summary.title}"), title_justify="left")
        for index, column in enumerate(summary.columns):
            table.add_column(escape(column), justify="left" if index == 0 else "right")
        for row in summary.rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)
