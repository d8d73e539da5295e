"""Loads the registered model's scoring runtime, keeps it in memory and swaps it atomically.

The registered model is the inference pipeline; its one artifact is the scoring runtime's model
(plain arrays, quantumfinance.scoring), which the pipeline's node and this API both score with.
The API reads that artifact straight from the downloaded model: no Kedro runner, no pickled
library objects. A loaded model travels with everything derived from it: its applicant contract
(inside the artifact), the OpenAPI request schema generated from that contract and the audit
hash of its inputs. One swap replaces them all, so a request is checked, scored and audited by
one model version. tests/serving/test_parity.py proves the API equal to the pyfunc `predict`.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from quantumfinance.contract import ApplicantContract, ContractError, contract_of_scoring_model
from quantumfinance.scoring import ScoringModel, check, score
from quantumfinance.scoring.stored import load_scoring_model
from quantumfinance_serving.audit import input_hasher
from quantumfinance_serving.model_uri import RegistryRef, parse_model_uri  # noqa: F401 - re-export
from quantumfinance_serving.schemas import RequestSchema, request_schema

logger = logging.getLogger(__name__)


class ModelNotReady(RuntimeError):
    """No model has been loaded (yet)."""


class PlotNotFound(LookupError):
    """The served model has no reporting plot of that name."""


@dataclass(frozen=True)
class ReportingPlot:
    """A PNG the reporting pipeline logs into the model's run (conf/base/catalog_reporting.yml)."""

    name: str  # URL segment: /v1/model/plots/{name}
    title: str  # caption shown by the front end
    artifact_path: str  # inside the model's MLflow run


REPORTING_PLOTS = (
    ReportingPlot("roc", "ROC curve", "reporting/roc.png"),
    ReportingPlot("ks", "KS curve", "reporting/ks.png"),
    ReportingPlot("calibration", "Calibration", "reporting/calibration.png"),
    ReportingPlot("score_distribution", "Score distribution", "reporting/score_distribution.png"),
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ModelIdentity:
    """Where a model came from: enough to pin, report and compare versions."""

    uri: str
    load_uri: str
    name: str
    version: str | None
    alias: str | None
    run_id: str | None
    registry_uri: str | None = None  # which registry the version number belongs to
    artifact_digest: str | None = None  # sha256 of the artifacts as loaded (quantumfinance.lineage)


@dataclass
class LoadedModel:
    """One loaded model version: what answers every request until the next swap."""

    identity: ModelIdentity
    scoring: ScoringModel  # the runtime's model: what scores every request
    contract: ApplicantContract  # what the model says its inputs are
    metrics: dict[str, float]
    policy: dict[str, Any] | None = None
    plots: dict[str, bytes] = field(default_factory=dict)  # name -> PNG, see REPORTING_PLOTS
    loaded_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    request_schema: RequestSchema = field(init=False)
    input_hash: Callable[[dict[str, Any]], str] = field(init=False)

    def __post_init__(self) -> None:
        self.request_schema = request_schema(self.contract)
        self.input_hash = input_hasher(self.contract.feature_names)

    def plot_paths(self, prefix: str) -> dict[str, str]:
        """Title -> URL path of every plot this version carries, in REPORTING_PLOTS order."""
        return {p.title: f"{prefix}/{p.name}" for p in REPORTING_PLOTS if p.name in self.plots}

    def plot(self, name: str) -> bytes:
        """One plot's PNG bytes; PlotNotFound (naming the ones there are) otherwise."""
        if name not in self.plots:
            known = ", ".join(self.plots) or "none"
            version = self.identity.version or self.identity.uri
            raise PlotNotFound(
                f"no plot {name!r} for model {self.identity.name} version {version}; "
                f"available: {known}"
            )
        return self.plots[name]


def resolve(uri: str) -> ModelIdentity:
    """Pin a model URI to one version (an alias may move between lookup and load)."""
    if uri.startswith("models:"):
        from mlflow import MlflowClient  # noqa: PLC0415

        parsed = parse_model_uri(uri)
        client = MlflowClient()
        if parsed.alias:
            version = client.get_model_version_by_alias(parsed.name, parsed.alias)
        else:
            version = client.get_model_version(parsed.name, parsed.version)
        refuse_incomplete(version)
        return ModelIdentity(
            uri=uri,
            load_uri=f"models:/{parsed.name}/{version.version}",
            name=parsed.name,
            version=str(version.version),
            alias=parsed.alias,
            run_id=version.run_id,
            registry_uri=registry_identity(),
        )
    from mlflow.models import Model  # noqa: PLC0415

    run_id = None
    mlmodel = Path(uri) / "MLmodel"
    if mlmodel.exists():
        run_id = Model.load(str(mlmodel)).run_id
    return ModelIdentity(uri, uri, Path(uri.rstrip("/")).name, None, None, run_id)


def refuse_incomplete(version: Any) -> None:
    """A version whose registration was interrupted (no digest, no gate decision) is never
    served: ValueError naming it and what it lacks."""
    from quantumfinance.registry.versions import missing_evidence  # noqa: PLC0415

    missing = missing_evidence(dict(version.tags or {}))
    if missing:
        raise ValueError(
            f"{version.name} version {version.version} is an incomplete registration "
            f"(lacks {', '.join(missing)}); run `python -m quantumfinance.registry check`"
        )


def registry_identity() -> str:
    """The registry URI this process reads versions from, without any user:password part."""
    import mlflow  # noqa: PLC0415

    return re.sub(r"//[^/@]*@", "//", mlflow.get_registry_uri())


def _run_metrics(run_id: str | None) -> dict[str, float]:
    """Training metrics of the run that logged the model ({} when the run is unreachable)."""
    if not run_id:
        return {}
    from mlflow import MlflowClient  # noqa: PLC0415

    try:
        return dict(MlflowClient().get_run(run_id).data.metrics)
    except Exception as exc:  # noqa: BLE001 - a local model may have no tracking server
        logger.warning("metrics of run %s unavailable: %s", run_id, exc)
        return {}


def run_plots(identity: ModelIdentity) -> dict[str, bytes]:
    """The reporting PNGs logged into a registered version's run, read into memory.

    Read at load time so that the plots are swapped together with the model and survive a
    tracking-server outage. Display data: a missing or unreadable plot is left out, never an
    error. A model loaded by path has no registry version, hence no run to read from.
    """
    if identity.version is None or not identity.run_id:
        return {}
    import tempfile  # noqa: PLC0415

    from mlflow import MlflowClient  # noqa: PLC0415

    from quantumfinance.lineage import linked_runs  # noqa: PLC0415

    client = MlflowClient()
    try:  # reporting logs into its own run, linked to the model's (docs/decisions/0011)
        linked = [r.info.run_id for r in linked_runs(client, identity.run_id, "reporting")[:1]]
    except Exception as exc:  # noqa: BLE001 - display data: absence is fine
        logger.info("runs linked to %s: %s", identity.run_id, exc)
        linked = []
    source = linked[0] if linked else identity.run_id  # models trained before the split
    plots: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="qf-plots-") as tmp:
        for plot in REPORTING_PLOTS:
            try:
                local = client.download_artifacts(source, plot.artifact_path, tmp)
                content = Path(local).read_bytes()
            except Exception as exc:  # noqa: BLE001 - not logged (e.g. no reporting run yet)
                logger.info("%s of run %s: %s", plot.artifact_path, source, exc)
                continue
            if content.startswith(PNG_SIGNATURE):
                plots[plot.name] = content
            else:
                logger.warning("%s of run %s is not a PNG", plot.artifact_path, source)
    missing = [p.artifact_path for p in REPORTING_PLOTS if p.name not in plots]
    if missing:
        logger.warning("run %s serves without %s", source, ", ".join(missing))
    return plots


def served_contract(scoring: ScoringModel, where: str) -> ApplicantContract:
    """The applicant contract a model carries; ContractError naming the model when it has none."""
    try:
        return contract_of_scoring_model(scoring)
    except ContractError as exc:
        raise ContractError(f"{where}: {exc}") from exc


def warmup_applicants(contract: ApplicantContract) -> list[dict[str, Any]]:
    """The contract's example applicant, and the same with every nullable input missing."""
    example = contract.example_applicant()
    nullable = [c.name for c in contract.features if c.nullable]
    return [example, {**example, **dict.fromkeys(nullable)}] if nullable else [example]


def load(uri: str) -> LoadedModel:
    """Resolve, download and read the model's scoring artifact; score its example applicants.

    The run's metrics and plots (tracking-server calls and downloads) are fetched in a helper
    thread while the model itself is downloaded: start -> ready pays the longer of the two."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    import mlflow  # noqa: PLC0415

    from quantumfinance.lineage import directory_sha256  # noqa: PLC0415

    identity = resolve(uri)
    with ThreadPoolExecutor(1, thread_name_prefix="model-run") as helper:
        metrics = helper.submit(_run_metrics, identity.run_id)
        plots = helper.submit(run_plots, identity)
        # Downloaded first, so that the audit can name the digest of the exact bytes served.
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=identity.load_uri))
        identity = replace(identity, artifact_digest=directory_sha256(local))
        scoring = load_scoring_model(local)
        contract = served_contract(scoring, identity.load_uri)
        model = LoadedModel(
            identity,
            scoring,
            contract,
            metrics.result(),
            scoring.policy.as_parameters(),
            plots.result(),
        )
    warm = warmup_applicants(contract)
    columns = {name: [a.get(name) for a in warm] for name in scoring.feature_names}
    score(scoring, check(scoring, columns))  # a model that cannot score its own example fails
    return model


def _freeze_long_lived() -> None:
    """Move everything alive now (modules, the model, its artifacts) out of the cyclic GC's reach.

    With the model loaded ~440,000 objects are tracked and one full collection took 400-550 ms
    on the (busy) 2-core bench machine; automatic ones land in the middle of requests (tail
    latency). Frozen objects are still freed by reference counting; the previous model's cycles
    are collected by the unfreeze + collect here, once per reload instead of on the request path.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class ModelStore:
    """Holds the current model; loads in the background, polls the alias, reloads atomically."""

    def __init__(
        self,
        uri: str,
        reload_interval: float,
        on_reload_failure: Callable[[], None] = lambda: None,
    ) -> None:
        self.uri = uri
        self.reload_interval = reload_interval
        self.on_reload_failure = on_reload_failure
        self.current: LoadedModel | None = None  # replaced whole: readers never see a mix
        self.last_error: str | None = None  # of the latest load attempt (None once one succeeds)
        self.check_error: str | None = None  # of the latest alias poll (None once one succeeds)
        self.alias_version: str | None = None  # where the followed alias pointed at the last poll
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self.current is not None

    @property
    def lagging(self) -> bool:
        """True while the served version is not the one the followed alias points to."""
        current = self.current
        return (
            current is not None
            and self.alias_version is not None
            and self.alias_version != current.identity.version
        )

    def get(self) -> LoadedModel:
        model = self.current
        if model is None:
            raise ModelNotReady(self.last_error or "model is still loading")
        return model

    def reload(self) -> LoadedModel:
        """Load the URI again and swap; on failure keep the old model and remember why."""
        with self._load_lock:
            try:
                model = load(self.uri)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                self.on_reload_failure()
                logger.error("loading %s failed, keeping the current model: %s", self.uri, exc)
                raise
            previous = self.current
            self.current = model
            self.last_error = None
            if model.identity.alias:
                self.alias_version = model.identity.version
            _freeze_long_lived()
            logger.info(
                "serving %s version %s, contract %s (was version %s, contract %s)",
                model.identity.name,
                model.identity.version,
                model.contract.digest[:12],
                previous.identity.version if previous else None,
                previous.contract.digest[:12] if previous else None,
            )
            return model

    def alias_moved(self) -> bool:
        """True when the URI now resolves to another version than the one served."""
        current = self.current
        if current is None:
            return True
        if not self.uri.startswith("models:"):
            return False
        self.alias_version = resolve(self.uri).version
        return self.alias_version != current.identity.version

    def start(self) -> None:
        """Load at once in a background thread, then poll for alias moves."""
        self._thread = threading.Thread(target=self._watch, name="model-store", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        try:
            self.reload()
        except Exception:  # noqa: BLE001 - reported via last_error and /ready
            pass
        interval = self.reload_interval or None
        while interval and not self._stop.wait(interval):
            try:
                if self.alias_moved():
                    self.reload()
                self.check_error = None
            except Exception as exc:  # noqa: BLE001 - registry down: keep serving
                self.check_error = f"{type(exc).__name__}: {exc}"[:2000]
                logger.warning("checking %s failed; still serving: %s", self.uri, exc)
