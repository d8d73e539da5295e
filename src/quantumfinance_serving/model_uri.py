"""`models:/` URIs taken apart (no MLflow import: settings validation uses this at start-up)."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RegistryRef", "parse_model_uri"]


@dataclass(frozen=True)
class RegistryRef:
    """A `models:/` URI taken apart: the registered name and one of version or alias."""

    name: str
    version: str | None
    alias: str | None


_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/@]+))$")


def parse_model_uri(uri: str) -> RegistryRef:
    """`models:/name@alias` or `models:/name/<version>` -> RegistryRef (ValueError otherwise).

    Stages, `latest` and logged-model ids are refused: a served model must be pinnable to one
    registry version, and aliases are how this project promotes (champion, challenger)."""
    match = _REGISTRY_URI.match(uri.strip())
    if match is None:
        raise ValueError(
            f"model URI {uri!r} must be models:/<name>@<alias>, models:/<name>/<version> "
            "or a local model directory"
        )
    return RegistryRef(match["name"], match["version"], match["alias"])
