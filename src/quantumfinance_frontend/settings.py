"""Where the API is and which key to use: `st.secrets`, overridden by QF_API_URL / QF_API_KEY."""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

DEFAULT_API_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class FrontendSettings:
    """The two things the demo needs to reach the API."""

    api_url: str
    api_key: str | None


def _secret(name: str) -> str | None:
    # st.secrets raises when no secrets.toml exists at all; a demo without one is still valid.
    try:
        value = st.secrets.get(name)
    except Exception:  # noqa: BLE001 - missing/unparsable secrets file means "not set"
        return None
    return str(value) if value else None


def load_settings() -> FrontendSettings:
    """Environment variables win over secrets so `make serve` and containers need no file."""
    api_url = os.environ.get("QF_API_URL") or _secret("api_url") or DEFAULT_API_URL
    api_key = os.environ.get("QF_API_KEY") or _secret("api_key")
    return FrontendSettings(api_url=api_url, api_key=api_key)
