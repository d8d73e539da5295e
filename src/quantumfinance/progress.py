"""Progress on long steps: a live bar on a terminal, a few timed log lines when written to a file.

One helper for every long step (CV folds, fitting, scoring, logging the model, large I/O), so a
user never watches silence and a captured log stays short and unwrapped.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

T = TypeVar("T")
logger = logging.getLogger("quantumfinance.progress")
# In a file, one line at most this often per step (plus its last), so logs stay short.
LOG_EVERY_SECONDS = 10.0


def _live() -> bool:
    """A live bar only on an interactive terminal; files and CI get log lines instead."""
    return sys.stderr.isatty()


def _bar(*columns: object) -> Progress:
    """A transient bar on stderr, so stdout (the run log) stays one line per record."""
    return Progress(*columns, console=Console(stderr=True), transient=True)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Yield ``items`` while showing how many of ``total`` are done and the time taken."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    start = time.perf_counter()
    done = 0
    if _live():
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
        with _bar(*columns, TimeElapsedColumn()) as progress:
            for item in progress.track(items, total=total, description=description):
                yield item
                done += 1
    else:
        logger.info("%s: %s steps", description, total if total is not None else "?")
        last = start
        for item in items:
            yield item
            done += 1
            now = time.perf_counter()
            if now - last >= LOG_EVERY_SECONDS and done != total:
                logger.info("%s: %d/%s after %.0f s", description, done, total, now - start)
                last = now
    logger.info("%s: %d done in %.1f s", description, done, time.perf_counter() - start)


@contextmanager
def step(description: str) -> Iterator[None]:
    """Time one long step that has no count (fitting, logging a model, a large read or write)."""
    start = time.perf_counter()
    if _live():
        with _bar(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()
        ) as progress:
            progress.add_task(description, total=None)
            yield
    else:
        yield
    logger.info("%s: done in %.1f s", description, time.perf_counter() - start)
