"""The scoring model's file in the catalog: canonical JSON, so the same fit gives the same bytes.

Loaded by the logged inference pipeline, the API and each batch worker; it imports the scoring
runtime and Kedro's dataset base only (no pandas, optbinning or scikit-learn).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractDataset

from quantumfinance.scoring import ScoringModel

FILE_NAME = "scoring_model.json"


class ScoringModelDataset(AbstractDataset[ScoringModel, ScoringModel]):
    """``type: quantumfinance.model_dataset.ScoringModelDataset`` with a local ``filepath``."""

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> ScoringModel:
        return ScoringModel.from_json(Path(self._filepath).read_bytes())

    def save(self, data: ScoringModel) -> None:
        path = Path(self._filepath)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data.to_json() + "\n", encoding="utf-8")

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
