"""A pickle backend whose bytes depend only on the model, not on the run (decision record 0012).

Two fits of the same code, data and parameters pickled differently with plain `pickle`: each
fitted optbinning object keeps how long its fit steps took (`_time_total`, `_time_solver`, …;
117 such floats in credit_model.pkl). Here those are written as 0.0; everything else is plain
pickle, and `load` is `pickle.load`. (Sets would still be written in hash order, which varies per
process: the C pickler does not let a subclass reorder them. The model objects hold none;
tests/test_stable_pickle.py checks two processes with different hash seeds agree.)
Catalog: `type: pickle.PickleDataset` with `backend: quantumfinance.stable_pickle`.
"""

from __future__ import annotations

import io
import pickle
from typing import IO, Any

TIMING_PREFIX = "_time_"  # elapsed seconds recorded by a fit: run-dependent, not the model
PROTOCOL = 5


class StablePickler(pickle.Pickler):
    """Writes fit timings as 0.0; everything else as `pickle.Pickler` does."""

    def __init__(self, file: IO[bytes], protocol: int = PROTOCOL, **kwargs: Any) -> None:
        super().__init__(file, protocol, **kwargs)
        self.protocol = protocol

    def reducer_override(self, obj: Any) -> Any:
        state = getattr(obj, "__dict__", None)
        if isinstance(obj, type) or not isinstance(state, dict):
            return NotImplemented
        if not any(key.startswith(TIMING_PREFIX) for key in state):
            return NotImplemented
        reduced = obj.__reduce_ex__(self.protocol)
        if not isinstance(reduced, tuple) or len(reduced) < 3 or not isinstance(reduced[2], dict):
            return NotImplemented
        timeless = {
            key: 0.0 if key.startswith(TIMING_PREFIX) and value is not None else value
            for key, value in reduced[2].items()
        }
        return (*reduced[:2], timeless, *reduced[3:])


def dump(obj: Any, file: IO[bytes], **kwargs: Any) -> None:
    """`pickle.dump` with the stable pickler (protocol fixed so bytes do not vary by default)."""
    kwargs.setdefault("protocol", PROTOCOL)
    StablePickler(file, **kwargs).dump(obj)


def dumps(obj: Any, **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    dump(obj, buffer, **kwargs)
    return buffer.getvalue()


def load(file: IO[bytes], **kwargs: Any) -> Any:
    return pickle.load(file, **kwargs)  # noqa: S301 - the project's own model files


def loads(data: bytes, **kwargs: Any) -> Any:
    return pickle.loads(data, **kwargs)  # noqa: S301 - the project's own model files
