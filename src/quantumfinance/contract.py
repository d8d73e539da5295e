"""The applicant contract: a portfolio's columns, types, target, protected attributes and texts.

The contract is configuration (``conf/<env>/applicant_contract.yml``), never code: this module
only knows its *shape*. It is read through the Kedro catalog (``ApplicantContractDataset``),
checked before any node runs, logged inside the model as an artifact of the inference pipeline
and served by the API, so every consumer reads the same contract from the same place.

Errors name the file, the field and the problem, e.g.
``conf/cards/applicant_contract.yml: characteristics[balance].type: Input should be
'categorical', 'integer' or 'float'``.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from kedro.io import AbstractDataset, DatasetError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from quantumfinance.scoring.check import value_problem

# Column names as the model, the API and parquet see them: snake_case.
Name = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$", max_length=64)]
Code = str | int | float | bool
# optbinning's monotonic_trend values
Trend = Literal[
    "auto",
    "auto_heuristic",
    "auto_asc_desc",
    "ascending",
    "descending",
    "convex",
    "concave",
    "peak",
    "valley",
    "peak_heuristic",
    "valley_heuristic",
]
DEFAULT_REASON = "{description}: {suffix}"


class ContractError(ValueError):
    """The contract itself, or data read against it, is wrong (message names file and field)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Portfolio(_Strict):
    """What the applicants are and where the data come from (shown in docs and the model card)."""

    name: str
    description: str = ""
    source: str = ""  # citation or owner of the data


class Identifier(_Strict):
    """The applicant id: read from a source column, or generated (1..n in file order)."""

    name: Name
    source: str | None = None  # column in the source file; defaults to `name`
    generate: bool = False


class Target(_Strict):
    """The default flag and how the source codes it: values meaning bad (1) and good (0)."""

    name: Name
    source: str | None = None
    label: str = "Defaulted"
    bad: tuple[Code, ...] = Field(min_length=1)
    good: tuple[Code, ...] = Field(min_length=1)
    # Share of rows whose target value is neither bad nor good that ingest lets through to the
    # quarantine; unset (the default) means none: any such value stops ingest.
    max_unmapped_fraction: float | None = Field(None, ge=0, lt=1)

    @model_validator(mode="after")
    def _disjoint(self) -> Target:
        both = set(map(code_text, self.bad)) & set(map(code_text, self.good))
        if both:
            raise ValueError(f"values {sorted(both)} are listed as both bad and good")
        return self

    def flag(self, values: pd.Series) -> pd.Series:
        """1.0 for bad, 0.0 for good, NaN for a value that is neither (or missing)."""
        codes = {**{code_text(v): 0.0 for v in self.good}, **{code_text(v): 1.0 for v in self.bad}}
        text = values.map(code_text, na_action="ignore")
        return text.map(codes).astype("float64")


class Characteristic(_Strict):
    """One applicant attribute: type, allowed values, texts, and how the model treats it."""

    name: Name
    type: Literal["categorical", "integer", "float"]
    source: str | None = None  # column in the source file; defaults to `name`
    label: str | None = None  # short plain-language name for forms and reasons
    description: str = ""
    section: str = "Applicant"  # form section
    categories: tuple[str, ...] | None = None
    category_labels: dict[str, str] = Field(default_factory=dict)  # readable labels per value
    minimum: float | None = None
    maximum: float | None = None
    unit: str | None = None
    nullable: bool = False  # missing values are valid; they get optbinning's missing bin
    monotonic_trend: Trend | None = None
    reason: str | None = None  # reason text template: {label}, {description}, {suffix}
    # Direction phrases of applicant-specific reasons, e.g. "longer loans score lower" (adverse)
    # and "shorter loans score higher" (a positive factor); defaults are generated.
    adverse_direction: str | None = None
    favourable_direction: str | None = None
    protected: bool = False  # reported for fairness
    use_in_model: bool = True  # False: validated and reported, never a model input
    fairness_bands: tuple[float, ...] | None = None  # numeric protected attribute: band edges
    example: Code | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Characteristic:
        if self.type == "categorical":
            if not self.categories:
                raise ValueError("a categorical characteristic needs a non-empty `categories` list")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError("`categories` lists a value twice")
            if self.minimum is not None or self.maximum is not None:
                raise ValueError("`minimum`/`maximum` are for integer and float characteristics")
            unknown = set(self.category_labels) - set(self.categories)
            if unknown:
                raise ValueError(f"`category_labels` names unknown categories {sorted(unknown)}")
        else:
            if self.categories is not None:
                raise ValueError(
                    f"`categories` are for categorical characteristics, not {self.type}"
                )
            if self.minimum is None or self.maximum is None:
                raise ValueError(f"an {self.type} characteristic needs `minimum` and `maximum`")
            if self.minimum > self.maximum:
                raise ValueError(f"`minimum` {self.minimum} is above `maximum` {self.maximum}")
        if self.example is not None and (problem := self.problem(self.example)):
            raise ValueError(f"`example` {problem}")
        if self.fairness_bands is not None and (self.type == "categorical" or not self.protected):
            raise ValueError("`fairness_bands` are for numeric protected characteristics")
        return self

    @property
    def is_categorical(self) -> bool:
        return self.type == "categorical"

    @property
    def source_column(self) -> str:
        return self.source or self.name

    @property
    def title(self) -> str:
        """The plain-language label (the name, readable, when the contract gives none)."""
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def default_example(self) -> Code:
        """A valid value for docs and forms: the declared example, else the first category or
        the middle of the range."""
        if self.example is not None:
            return self.example
        if self.is_categorical:
            return self.categories[0]
        middle = (self.minimum + self.maximum) / 2
        return int(middle) if self.type == "integer" else float(middle)

    def reason_text(self, suffix: str) -> str:
        """The adverse-action text of this characteristic."""
        return (self.reason or DEFAULT_REASON).format(
            label=self.title, description=self.description or self.title, suffix=suffix
        )

    def problem(self, value: Any) -> str | None:
        """Why one value breaks this characteristic, or None: the scoring runtime's rule, the
        one every consumer applies."""
        return value_problem(
            value,
            categories=self.categories if self.is_categorical else None,
            nullable=self.nullable,
            integer=self.type == "integer",
            minimum=self.minimum,
            maximum=self.maximum,
        )


class ApplicantContract(_Strict):
    """A portfolio's applicant contract (see conf/base/applicant_contract.yml)."""

    portfolio: Portfolio
    id: Identifier
    target: Target
    characteristics: tuple[Characteristic, ...] = Field(min_length=1)
    _origin: str = PrivateAttr("applicant contract")  # the file it came from, for messages

    @model_validator(mode="after")
    def _unique(self) -> ApplicantContract:
        names = [self.id.name, self.target.name, *(c.name for c in self.characteristics)]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"column name(s) {twice} used more than once")
        sources = [c.source_column for c in self.characteristics]
        sources += [self.target.source or self.target.name]
        if not self.id.generate:
            sources.append(self.id.source or self.id.name)
        twice = sorted({s for s in sources if sources.count(s) > 1})
        if twice:
            raise ValueError(f"source column(s) {twice} mapped more than once")
        if not any(c.use_in_model for c in self.characteristics):
            raise ValueError("no characteristic has use_in_model: true")
        return self

    # --------------------------------------------------------------- derived views

    @cached_property
    def by_name(self) -> dict[str, Characteristic]:
        return {c.name: c for c in self.characteristics}

    @cached_property
    def features(self) -> tuple[Characteristic, ...]:
        """The model's inputs, in contract order."""
        return tuple(c for c in self.characteristics if c.use_in_model)

    @cached_property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.features)

    @cached_property
    def categorical_features(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.features if c.is_categorical)

    @cached_property
    def numeric_features(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.features if not c.is_categorical)

    @cached_property
    def protected(self) -> tuple[Characteristic, ...]:
        return tuple(c for c in self.characteristics if c.protected)

    @cached_property
    def columns(self) -> tuple[str, ...]:
        """Every column of a validated applicant table: id, characteristics, target."""
        return (self.id.name, *(c.name for c in self.characteristics), self.target.name)

    @cached_property
    def source_names(self) -> dict[str, str]:
        """Source column -> contract column, for every column read from the source."""
        names = {c.source_column: c.name for c in self.characteristics}
        names[self.target.source or self.target.name] = self.target.name
        if not self.id.generate:
            names[self.id.source or self.id.name] = self.id.name
        return names

    @cached_property
    def text_sources(self) -> tuple[str, ...]:
        """Source columns read as text: categorical characteristics and a read id (codes such
        as ``"01"`` keep their leading zeros)."""
        sources = [c.source_column for c in self.characteristics if c.is_categorical]
        if not self.id.generate:
            sources.insert(0, self.id.source or self.id.name)
        return tuple(sources)

    @cached_property
    def digest(self) -> str:
        """sha256 of the canonical JSON form: the contract's version in lineage and the API."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def __eq__(self, other: object) -> bool:
        # The same contract wherever it was read from (and whatever views were cached).
        if not isinstance(other, ApplicantContract):
            return NotImplemented
        return self.digest == other.digest

    def __hash__(self) -> int:
        return hash(self.digest)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (what the API returns and ``from_dict`` reads back)."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "contract") -> ApplicantContract:
        """Validate a contract, naming ``origin``, the field and the problem on any error."""
        try:
            contract = cls.model_validate(data)
        except ValidationError as exc:
            raise ContractError(_explain(exc, data, origin)) from None
        contract._origin = origin
        return contract

    @property
    def origin(self) -> str:
        """Where the contract came from (its file), as error messages name it."""
        return self._origin

    def error(self, field: str, problem: str) -> ContractError:
        """A ContractError naming this contract's file, the field and the problem."""
        return ContractError(f"{self._origin}: {field}: {problem}")

    def field_of(self, column: str) -> str:
        """The contract field that declares ``column`` (e.g. ``characteristics[balance]``)."""
        if column == self.id.name:
            return "id"
        if column == self.target.name:
            return "target"
        return f"characteristics[{column}]"

    def example_applicant(self) -> dict[str, Code]:
        """One valid applicant (model inputs only), for docs, forms and smoke tests."""
        return {c.name: c.default_example for c in self.features}

    def feature_problems(self, applicant: dict[str, Any]) -> dict[str, str]:
        """Field -> problem for one applicant's model inputs (missing keys included)."""
        problems = {
            c.name: p for c in self.features if (p := c.problem(applicant.get(c.name))) is not None
        }
        unknown = [k for k in applicant if k not in self.by_name]
        problems.update({k: "is not a characteristic of this contract" for k in unknown})
        return problems


def as_text(values: pd.Series) -> pd.Series:
    """A column as text the way the contract compares codes (``code_text``), missing kept: the one
    comparison of categories and ids in ingest and validation."""
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        return values
    return values.map(code_text, na_action="ignore").astype("str")


def code_text(value: Any) -> str:
    """A target or id code as text: 2, 2.0 and "2" are the same code."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _explain(exc: ValidationError, data: Any, origin: str) -> str:
    """One line per problem: ``origin: characteristics[balance].type: message``."""
    lines = []
    for error in exc.errors():
        parts: list[str] = []
        node: Any = data
        for key in error["loc"]:
            if isinstance(key, int):
                name = (
                    node[key].get("name")
                    if isinstance(node, list | tuple) and isinstance(node[key], dict)
                    else None
                )
                parts[-1:] = [f"{parts[-1] if parts else ''}[{name or key}]"]
            else:
                parts.append(str(key))
            try:
                node = node[key]
            except (KeyError, IndexError, TypeError):
                node = None
        where = ".".join(parts) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{origin}: {where}: {message}")
    return "\n".join(lines)


def load_contract(path: str | Path) -> ApplicantContract:
    """Read and check a contract file; ContractError names the file, the field and the problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError(f"{path}: the applicant contract file does not exist") from None
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ContractError(
            f"{path}: expected a mapping with portfolio, id, target, characteristics"
        )
    return ApplicantContract.from_dict(data, origin=str(path))


class ApplicantContractDataset(AbstractDataset[ApplicantContract, ApplicantContract]):
    """Kedro dataset of a contract YAML file: loads a checked ``ApplicantContract``.

    A local file on purpose: the inference pipeline takes the contract as an input, so
    kedro-mlflow copies the file into the model's artifacts (the contract travels with it).
    """

    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self.metadata = metadata

    def load(self) -> ApplicantContract:
        try:
            return load_contract(self._filepath)
        except ContractError:
            raise
        except OSError as exc:  # pragma: no cover - permissions and the like
            raise DatasetError(f"{self._filepath}: {exc}") from exc

    def save(self, data: ApplicantContract) -> None:
        text = yaml.safe_dump(data.as_dict(), sort_keys=False, allow_unicode=True)
        Path(self._filepath).parent.mkdir(parents=True, exist_ok=True)
        Path(self._filepath).write_text(text, encoding="utf-8")

    def _exists(self) -> bool:
        return Path(self._filepath).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}


def contract_of_model(pyfunc_model: Any, artifact: str = "scoring_model") -> ApplicantContract:
    """The contract a logged credit model carries (inside its inference pipeline's scoring
    model artifact)."""
    catalog = pyfunc_model.unwrap_python_model().loaded_catalog
    return contract_of_scoring_model(catalog.load(artifact))


def contract_of_scoring_model(scoring_model: Any) -> ApplicantContract:
    """The contract a scoring runtime model was trained on."""
    data = getattr(scoring_model, "contract", None)
    if not isinstance(data, dict):
        raise ContractError("the model carries no applicant contract")
    return ApplicantContract.from_dict(data, origin="the model's applicant contract")


def main(argv: list[str] | None = None) -> int:
    """``python -m quantumfinance.contract draft FILE ...``: see quantumfinance.drafting."""
    from quantumfinance.drafting import main as draft_main  # noqa: PLC0415 - the CLI only

    return draft_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
