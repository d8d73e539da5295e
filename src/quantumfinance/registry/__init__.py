"""Model registry for ``credit-score``, by job:

- ``versions``: what a version is; ``is_complete`` (the API and batch scoring may call it);
- ``gate``: judge a training run on evidence and register it in ONE call with its tags;
- ``commands``: operator commands ``promote``, ``rollback``, ``check`` (incomplete versions);
- ``reader``: ``status`` and ``history`` without importing MLflow (about a second);
- ``cli``: ``python -m quantumfinance.registry status|history|check [--remove]|rollback|promote
  VERSION [--tracking-uri URI] [--env ENV]``.

Every move of ``champion`` (gate, promote, rollback) is appended, never rewritten, as a
registered-model tag ``champion_move.NNNN``; ``champion_history`` is the stack ``rollback``
steps back through. ``promote`` and ``rollback`` refuse a version that is incompletely
registered, whose artifacts' sha256 differs from the one recorded at training, or that does
not load. ``check`` lists versions whose registration was cut off; ``--remove`` deletes them
(never one an alias points at); every ds run does the same before registering.
"""

from quantumfinance.registry.cli import (
    main,
    project_config,
    project_data_root,
    project_tracking_uri,
)
from quantumfinance.registry.commands import (
    check,
    check_loadable,
    incomplete_versions,
    promote,
    rollback,
)
from quantumfinance.registry.gate import (
    DESCRIPTION_LIMIT,
    MODEL_DESCRIPTION,
    Candidate,
    GateEvidence,
    PromotionDecision,
    collect_evidence,
    describe,
    judge,
    logged_candidate,
    model_digest,
    register,
)
from quantumfinance.registry.reader import RegistryReader, history, status
from quantumfinance.registry.versions import (
    CHALLENGER,
    CHAMPION,
    GATE_METRIC,
    HISTORY_TAG,
    MODEL_NAME,
    MOVE_TAG_PREFIX,
    REQUIRED_EVIDENCE,
    RegistryError,
    download_version,
    is_complete,
    missing_evidence,
    version_of_run,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "GATE_METRIC",
    "HISTORY_TAG",
    "DESCRIPTION_LIMIT",
    "MODEL_DESCRIPTION",
    "MODEL_NAME",
    "MOVE_TAG_PREFIX",
    "REQUIRED_EVIDENCE",
    "Candidate",
    "GateEvidence",
    "PromotionDecision",
    "RegistryError",
    "RegistryReader",
    "check",
    "check_loadable",
    "collect_evidence",
    "describe",
    "download_version",
    "history",
    "incomplete_versions",
    "is_complete",
    "judge",
    "logged_candidate",
    "main",
    "missing_evidence",
    "model_digest",
    "project_config",
    "project_data_root",
    "project_tracking_uri",
    "promote",
    "register",
    "rollback",
    "status",
    "version_of_run",
]
