"""progress.track / progress.step: in a file (no terminal) a few short timed log lines."""

from __future__ import annotations

import logging

from quantumfinance import progress


def test_track_yields_every_item_and_logs_start_and_end(caplog):
    with caplog.at_level(logging.INFO, logger="quantumfinance.progress"):
        items = list(progress.track(range(5), "Cross-validation folds"))

    assert items == [0, 1, 2, 3, 4]
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "Cross-validation folds: 5 steps"
    assert messages[-1].startswith("Cross-validation folds: 5 done in ")
    assert len(messages) == 2  # quick steps: no intermediate lines


def test_track_without_a_length_counts_what_it_saw(caplog):
    with caplog.at_level(logging.INFO, logger="quantumfinance.progress"):
        assert sum(progress.track((i for i in range(3)), "Chunks")) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["Chunks: ? steps", messages[-1]]
    assert messages[-1].startswith("Chunks: 3 done in ")


def test_step_times_a_block(caplog):
    with caplog.at_level(logging.INFO, logger="quantumfinance.progress"):
        with progress.step("Logging the model"):
            pass
    (record,) = caplog.records
    assert record.getMessage().startswith("Logging the model: done in ")
