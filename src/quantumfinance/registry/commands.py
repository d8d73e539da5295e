"""Operator commands on the registry: promote, rollback, and the check for incomplete versions.

``promote`` and ``rollback`` move ``champion`` only onto a version that is completely registered
(``versions.is_complete``) and whose artifacts, downloaded now, have the sha256 recorded at
training and load as the API would load them. Every move is appended to the registered model's
``champion_move.NNNN`` tags (the history); the current state is the aliases: no version tag is
rewritten to say what happened to it later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quantumfinance.registry.versions import (
    CHALLENGER,
    CHAMPION,
    MODEL_DIGEST_TAG,
    MODEL_NAME,
    RegistryError,
    alias_version,
    champion_history,
    download_version,
    missing_evidence,
    move_champion,
    require_complete,
)

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient


def check_loadable(client: MlflowClient, name: str, version: str) -> str:
    """Refuse (RegistryError naming the version and the cause) a version that is incompletely
    registered, whose artifacts' sha256 is not the one recorded at training, or that does not
    load as the API would load it. Returns a line saying what was checked."""
    import tempfile  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    from quantumfinance.lineage import directory_sha256  # noqa: PLC0415

    uri = f"models:/{name}/{version}"
    expected = require_complete(client, name, version).tags[MODEL_DIGEST_TAG]
    try:
        with tempfile.TemporaryDirectory(prefix="qf-check-") as tmp:
            local = download_version(client, name, version, tmp)
            digest = directory_sha256(local)
            if digest == expected:
                mlflow.pyfunc.load_model(str(local))
    except Exception as exc:  # noqa: BLE001 - any failure means: not servable
        raise RegistryError(
            f"refused: {uri} cannot be loaded, so it cannot serve "
            f"({type(exc).__name__}: {str(exc)[:300]}); champion unchanged"
        ) from exc
    if digest != expected:
        raise RegistryError(
            f"refused: the artifacts of {uri} have sha256 {digest[:12]}, not the "
            f"{expected[:12]} recorded when it was trained; champion unchanged"
        )
    return f"{uri} loads (artifacts sha256 {digest[:12]}, as recorded at training)"


def rollback(client: MlflowClient, name: str = MODEL_NAME) -> str:
    """Move ``champion`` back to the previous champion if it passes ``check_loadable``; the
    version rolled back from becomes ``challenger`` when no other holds it (a gated candidate
    that is not the champion, ready for a roll forward)."""
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise RegistryError(f"model '{name}' has no champion to roll back")
    current_version = str(current.version)
    history = champion_history(client, name)
    while history and history[-1] != current_version:  # alias moved by hand since: trust the alias
        history.pop()
    if len(history) < 2:
        raise RegistryError(
            f"model '{name}' v{current_version} has no previous champion to roll back to"
        )
    previous = history[-2]
    checked = check_loadable(client, name, previous)
    move_champion(client, name, previous, history[:-1], "rollback", f"from v{current_version}")
    if alias_version(client, name, CHALLENGER) is None:
        client.set_registered_model_alias(name, CHALLENGER, current_version)
    return f"champion of '{name}' rolled back from v{current_version} to v{previous}; {checked}"


def promote(client: MlflowClient, version: str, name: str = MODEL_NAME) -> str:
    """Make ``version`` champion (e.g. roll forward after a rollback) if it passes
    ``check_loadable``; say so."""
    version = str(version).removeprefix("v")
    current = alias_version(client, name, CHAMPION)
    current_version = str(current.version) if current else None
    if current_version == version:
        return f"v{version} of '{name}' is already champion; nothing changed"
    checked = check_loadable(client, name, version)
    history = [v for v in champion_history(client, name) if v != version]
    if current_version and (not history or history[-1] != current_version):
        history.append(current_version)
    move_champion(client, name, version, [*history, version], "promote", "by an operator")
    challenger = alias_version(client, name, CHALLENGER)
    if challenger is not None and str(challenger.version) == version:
        client.delete_registered_model_alias(name, CHALLENGER)  # a champion is no challenger
    was = f"v{current_version}" if current_version else "no champion"
    return f"champion of '{name}' moved from {was} to v{version}; {checked}"


def incomplete_versions(client: MlflowClient, name: str) -> list[tuple[ModelVersion, list[str]]]:
    """Versions of ``name`` whose registration was cut off, each with the evidence it lacks."""
    found = client.search_model_versions(f"name='{name}'")
    rows = [(v, missing_evidence(dict(v.tags or {}))) for v in found]
    return sorted(((v, m) for v, m in rows if m), key=lambda row: int(row[0].version))


def check(client: MlflowClient, name: str = MODEL_NAME, remove: bool = False) -> str:
    """List (and with ``remove``, delete) incompletely registered versions. A version an alias
    points at is never deleted: the alias would silently vanish; promote a complete one first."""
    lines = []
    for version, missing in incomplete_versions(client, name):
        held = list(version.aliases or [])
        what = f"v{version.version} (run {version.run_id}) lacks {', '.join(missing)}"
        if remove and not held:
            client.delete_model_version(name, str(version.version))
            lines.append(f"removed {what}")
        elif held:
            lines.append(f"incomplete {what}; holds {','.join(held)}: kept, promote another first")
        else:
            lines.append(f"incomplete {what}")
    if not lines:
        return f"every version of '{name}' is completely registered"
    return "\n".join(lines)
