"""Render a portfolio's data dictionary from its applicant contract.

``python -m quantumfinance.data_dictionary`` writes ``docs/data_dictionary.md`` (env ``base``,
the default portfolio) and ``docs/data_dictionary_<env>.md`` for every other env with its own
``conf/<env>/applicant_contract.yml``; ``--env ENV`` renders one env only (an env without a
contract falls back to base's, as the catalog does). The documents are generated so they cannot
drift from the contracts; a test compares them with what this module renders.

Observed values come from the env's example data: the file at ``ingest.path`` of
``conf/<env>/parameters_ingest.yml`` (else base's), read with ``ingest.read`` and mapped to the
contract's columns exactly as the ingest pipeline does. Without such a file the dictionary shows
the contract only.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from quantumfinance.contract import ApplicantContract, Characteristic, code_text, load_contract
from quantumfinance.pipelines.ingest.nodes import read_applicant_file, to_contract_columns
from quantumfinance.registry import project_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BASE_ENV = "base"
CONTRACT_FILE = "applicant_contract.yml"
INGEST_FILE = "parameters_ingest.yml"


@dataclass(frozen=True)
class ExampleData:
    """An env's example applicants in contract columns, and where they were read from."""

    applicants: pd.DataFrame
    path: str
    read: dict[str, Any]


def doc_path(env: str, root: Path = PROJECT_ROOT) -> Path:
    """docs/data_dictionary.md for base, docs/data_dictionary_<env>.md for another env."""
    name = "data_dictionary.md" if env == BASE_ENV else f"data_dictionary_{env}.md"
    return root / "docs" / name


def contract_path(env: str, root: Path = PROJECT_ROOT) -> Path:
    """The env's own contract file, else base's."""
    own = root / "conf" / env / CONTRACT_FILE
    return own if own.is_file() else root / "conf" / BASE_ENV / CONTRACT_FILE


def portfolio_envs(root: Path = PROJECT_ROOT) -> list[str]:
    """base, then every other env that has its own contract (sorted)."""
    others = sorted(
        p.parent.name
        for p in (root / "conf").glob(f"*/{CONTRACT_FILE}")
        if p.parent.name != BASE_ENV
    )
    return [BASE_ENV, *others]


def ingest_parameters(env: str, root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The env's `ingest` parameters, merged as a Kedro session in that env reads them."""
    parameters = project_config(root, None if env == BASE_ENV else env)["parameters"]
    return dict(parameters.get("ingest") or {})


def example_data(
    env: str, contract: ApplicantContract, root: Path = PROJECT_ROOT
) -> ExampleData | None:
    """The env's example applicants (``ingest.path`` read with ``ingest.read``), or None."""
    ingest = ingest_parameters(env, root)
    path = ingest.get("path")
    if not path or not (root / path).is_file():
        return None
    read = dict(ingest.get("read") or {})
    raw = read_applicant_file(root / path, read, contract.text_sources)
    return ExampleData(to_contract_columns(raw, contract, origin=str(path)), str(path), read)


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _number(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{round(float(value), 4):,}"


def _allowed(c: Characteristic) -> str:
    if c.is_categorical:
        return "<br>".join(
            f"`{_md(v)}`" + (f" ({_md(c.category_labels[v])})" if v in c.category_labels else "")
            for v in c.categories
        )
    unit = f" {c.unit}" if c.unit else ""
    return f"{_number(c.minimum)} – {_number(c.maximum)}{unit}"


def _observed(c: Characteristic, values: pd.Series) -> str:
    """Category shares, or min – max, and the missing share, in the example data."""
    missing = values.isna().mean() if len(values) else 0.0
    if c.is_categorical:
        shares = values.value_counts() / max(len(values), 1)
        parts = [f"`{_md(v)}`: {shares.get(v, 0.0):.1%}" for v in c.categories]
        other = 1.0 - missing - sum(shares.get(v, 0.0) for v in c.categories)
        if other > 1e-9:
            parts.append(f"other values: {other:.1%}")
    else:
        numbers = pd.to_numeric(values, errors="coerce").dropna()
        parts = [f"{_number(numbers.min())} – {_number(numbers.max())}" if len(numbers) else "—"]
    if missing:
        parts.append(f"missing: {missing:.1%}")
    return "<br>".join(parts)


def _kind(c: Characteristic) -> str:
    if c.is_categorical:
        return "text (categorical, read as written)"
    if c.type == "integer":
        return "integer (float64 in raw files when missing)" if c.nullable else "integer (int64)"
    return "float (float64)"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _characteristic_rows(contract: ApplicantContract, example: ExampleData | None) -> list[str]:
    observed = " | observed in the example data" if example is not None else ""
    rows = [
        "| column | label | type | allowed values / range | nullable | monotonic trend | "
        f"protected | model input{observed} | meaning | source column |",
        "|---|---|---|---|---|---|---|---|" + ("---|" if example is not None else "") + "---|---|",
    ]
    for c in contract.characteristics:
        seen = f" | {_observed(c, example.applicants[c.name])}" if example is not None else ""
        rows.append(
            f"| `{c.name}` | {_md(c.title)} | {_kind(c)} | {_allowed(c)} | {_yes(c.nullable)} "
            f"| {c.monotonic_trend or '—'} | {_yes(c.protected)} | {_yes(c.use_in_model)}{seen} "
            f"| {_md(c.description or c.title)} | `{_md(c.source_column)}` |"
        )
    return rows


def _codes(values: Sequence[Any]) -> str:
    return ", ".join(f"`{_md(code_text(v))}`" for v in values)


def _identifier_and_target(contract: ApplicantContract, example: ExampleData | None) -> list[str]:
    id_, target = contract.id, contract.target
    # As ingest reads it: a generated id is a number, an id read from the file is text.
    id_type = "integer (1..n)" if id_.generate else "text (as written in the file)"
    id_source = (
        "generated: 1..n in file order"
        if id_.generate
        else f"column `{_md(id_.source or id_.name)}`"
    )
    rate = ""
    if example is not None:
        flags = target.flag(example.applicants[target.name])
        rate = f" In the example data {flags.mean():.1%} of the applicants are bad."
    return [
        "| column | role | type | source |",
        "|---|---|---|---|",
        f"| `{id_.name}` | applicant identifier, unique | {id_type} | {id_source} |",
        f"| `{target.name}` | target: {_md(target.label)} | raw: the source codes; "
        f"validated: int64, 1 = bad, 0 = good | column `{_md(target.source or target.name)}`: "
        f"{_codes(target.bad)} → 1 (bad), {_codes(target.good)} → 0 (good) |",
        "",
        f"Any other value of `{_md(target.source or target.name)}` is unreadable: the row is "
        f"quarantined.{rate}",
    ]


def _example_section(example: ExampleData | None, env: str) -> list[str]:
    if example is None:
        return [
            f"No example data: `conf/{env}/{INGEST_FILE}` names no readable `ingest.path`, so this "
            "dictionary shows the contract only."
        ]
    options = ", ".join(f"{k} `{v}`" for k, v in example.read.items()) or "none (pandas defaults)"
    rows = len(example.applicants)
    return [
        f"Observed values below come from `{example.path}` ({rows:,} applicants), read with "
        f"`ingest.read` options {options} and mapped to the contract's columns as the ingest "
        "pipeline does. Category shares are of all rows."
    ]


def render(env: str = BASE_ENV, root: Path = PROJECT_ROOT) -> str:
    """The env's data dictionary as Markdown."""
    path = contract_path(env, root)
    contract = load_contract(path)
    example = example_data(env, contract, root)
    relative = path.relative_to(root).as_posix()
    command = "python -m quantumfinance.data_dictionary" + (
        "" if env == BASE_ENV else f" --env {env}"
    )
    run = "the default: `kedro run`" if env == BASE_ENV else f"`kedro run --env {env}`"
    portfolio = contract.portfolio
    lines = [
        f"# Data dictionary — {_md(portfolio.name)}",
        "",
        f"<!-- Generated by `{command}` from {relative}. Edit the contract, then regenerate. -->",
        "",
        portfolio.description.strip(),
        "",
        f"* **Kedro env:** `{env}` ({run})",
        f"* **Contract:** `{relative}`",
        f"* **Source:** {_md(portfolio.source) or '—'}",
        f"* **Model inputs:** {len(contract.features)} of {len(contract.characteristics)} "
        "characteristics; protected (fairness report): "
        + (", ".join(f"`{c.name}`" for c in contract.protected) or "none"),
        "",
        "Every applicant table of this portfolio (`raw_applicants`, `validated_applicants`, "
        "`applicants_train`, `applicants_test`, the API's requests) uses these column names, in "
        "this order: the identifier, the characteristics, the target. The *allowed* values are "
        "what data_engineering validates against; a row breaking them is quarantined.",
        "",
        *_example_section(example, env),
        "",
        "## Identifier and target",
        "",
        *_identifier_and_target(contract, example),
        "",
        "## Characteristics",
        "",
        *_characteristic_rows(contract, example),
        "",
        FOOTER,
    ]
    return "\n".join(lines)


FOOTER = """## Datasets of the data pipelines

Paths are under the env's `data_root` (`globals.yml`).

| dataset | file | content |
|---|---|---|
| `raw_applicants` | `01_raw/applicants.parquet` | what ingest read (`params:ingest.source`), source columns renamed to the contract's, id generated if the contract says so, target in its source coding |
| `validated_applicants` | `02_intermediate/validated_applicants.parquet` | rows that passed every check, typed as above, target 0/1 |
| `quarantined_applicants` | `02_intermediate/quarantined_applicants.parquet` | rows that failed a check, as they arrived, plus `quarantine_reasons` |
| `applicants_train` / `applicants_test` | `05_model_input/applicants_{train,test}.parquet` | seeded split of `validated_applicants`, stratified on the target |
| `data_quality_report` | `08_reporting/data_quality.json` | rows in / valid / quarantined, failures per check |

`quarantine_reasons` lists every failed check of the row as `<column>: <check>`, joined by `; `.
Checks: `missing` (no value where the contract does not allow one), `not_an_integer`,
`not_a_number`, `in_range(lo, hi)`, `unknown_category` (not one of the allowed values),
`unreadable_target` (neither a bad nor a good code), `duplicate` (an id seen in an earlier row; the
first row is kept).

## Synthetic applicants

`ingest.source: synthetic` draws applicants with these columns from the contract, taking category
frequencies, numeric values, missing shares and the default rate from the file at `ingest.path`
when one is set (without one: declared categories and bounds, 20 % defaults), and plants a risk
signal on the model inputs only. How, in detail: `src/quantumfinance/synthetic.py`.
"""


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Write the data dictionary of one env (--env) or of every portfolio env."""
    parser = argparse.ArgumentParser(prog="python -m quantumfinance.data_dictionary")
    parser.add_argument("--env", help="Kedro env (default: base and every env with a contract)")
    args = parser.parse_args(argv)
    written = []
    for env in [args.env] if args.env else portfolio_envs():
        path = doc_path(env)
        path.write_text(render(env), encoding="utf-8")
        written.append(path)
        print(f"wrote {path}")  # noqa: T201 - a CLI
    return written


if __name__ == "__main__":
    main()
