"""Draft a portfolio env from its data: ``python -m quantumfinance.contract draft``.

    python -m quantumfinance.contract draft FILE --target COL --bad VALUE [VALUE ...]
        --env NAME [--good VALUE ...] [--id COL] [--max-categories N] [--force]

Reads a CSV (separator, decimal mark and encoding sniffed) or parquet file with every value as
text first, then decides per column: a code with a leading zero, or text, is categorical (its
categories as written in the file); whole numbers are integer, other numbers float, with the
observed range; a column with missing values is nullable; a complete, unique column named like an
identifier (or unique text) is the id, else ids are generated. Writes ``conf/NAME/`` (contract,
catalog, globals, mlflow, ingest and reporting parameters) and prints what to review. The other
parameter files are inherited from ``conf/base``.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from quantumfinance.contract import ApplicantContract, code_text

CONTRACT_FILE = "applicant_contract.yml"
ENCODINGS = ("utf-8", "cp1252", "latin-1")  # tried in this order; latin-1 decodes any byte
SEPARATORS = ",;\t|"
SNIFF_BYTES = 64_000
MAX_CATEGORIES = 50  # a text column with more distinct values is left out (free text)
ID_NAME = re.compile(r"(^|[^a-z])(id|key|nr|no|number|code)$", re.IGNORECASE)
LEADING_ZERO = re.compile(r"^[+-]?0\d")
COMMA_DECIMAL = re.compile(r"^[+-]?\d+,\d+$")


@dataclass
class Draft:
    """A drafted contract, the reader options that read the file, and notes for the reviewer."""

    contract: dict[str, Any]
    read: dict[str, Any]
    review: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- reading


def sniff_csv(path: Path) -> dict[str, Any]:
    """Encoding, separator and decimal mark of a CSV file (pandas.read_csv options)."""
    raw = path.read_bytes()[:SNIFF_BYTES]
    encoding = next(e for e in ENCODINGS if _decodes(raw, e))
    sample = raw.decode(encoding, errors="ignore")
    lines = sample.splitlines()[:-1] or sample.splitlines()
    try:
        sep = csv.Sniffer().sniff("\n".join(lines), delimiters=SEPARATORS).delimiter
    except csv.Error:
        sep = ","
    read: dict[str, Any] = {"sep": sep, "encoding": encoding}
    if sep != "," and any(COMMA_DECIMAL.match(cell) for line in lines for cell in line.split(sep)):
        read["decimal"] = ","
    return read


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return exc.start > len(raw) - 4  # a multi-byte character cut by the sample's end
    return True


def read_as_text(path: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every column as text (missing kept), and the reader options ingest will need."""
    if path.suffix.lower() in (".parquet", ".pq"):
        table = pd.read_parquet(path)
        return table.apply(lambda s: s.map(code_text, na_action="ignore").astype("str")), {}
    read = sniff_csv(path)
    table = pd.read_csv(path, dtype="str", sep=read["sep"], encoding=read["encoding"])
    return table, read


# ----------------------------------------------------------------------------- inference


def snake_name(text: str, taken: set[str]) -> str:
    """A contract name (snake_case ASCII, ≤ 64 characters) for a source column, not yet taken."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")[:56] or "column"
    name = f"c_{name}" if name[0].isdigit() else name
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _numbers(values: pd.Series, decimal: str) -> pd.Series:
    text = values.str.strip()
    if decimal == ",":
        text = text.str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce")


def _bound(value: float, whole: bool) -> float | int:
    return int(value) if whole else float(value)


def characteristic(
    source: str, values: pd.Series, name: str, decimal: str, max_categories: int
) -> tuple[dict[str, Any] | None, str]:
    """One column's drafted entry (None: left out) and the line the reviewer reads about it."""
    present = values.dropna()
    entry: dict[str, Any] = {"name": name, "source": source, "label": source.strip()}
    numbers = _numbers(present, decimal)
    codes = present.str.match(LEADING_ZERO).any()
    if len(present) and numbers.notna().all() and not codes:
        whole = bool((numbers % 1 == 0).all())
        entry["type"] = "integer" if whole else "float"
        entry["minimum"] = _bound(numbers.min(), whole)
        entry["maximum"] = _bound(numbers.max(), whole)
        note = f"{entry['type']}, observed {entry['minimum']} – {entry['maximum']}"
    else:
        categories = sorted(present.unique().tolist())
        if not categories or len(categories) > max_categories:
            return None, f"left out: {len(categories)} distinct values (free text or empty)"
        entry["type"] = "categorical"
        entry["categories"] = categories
        why = " (codes with leading zeros kept as text)" if codes else ""
        note = f"categorical, {len(categories)} categories{why}"
    if present.nunique() == 1:
        entry["use_in_model"] = False  # one value: nothing to rank applicants by
        note += "; one value only: use_in_model false"
    if values.isna().any():
        entry["nullable"] = True
        note += f", {values.isna().mean():.1%} missing (nullable)"
    entry["description"] = f"{source.strip()} (drafted from the data: describe it)"
    return entry, note


def find_id(table: pd.DataFrame, skip: set[str]) -> str | None:
    """A complete, unique column named like an identifier, else unique text; None: generate."""
    candidates = [
        c for c in table.columns if c not in skip and table[c].notna().all() and table[c].is_unique
    ]
    named = [c for c in candidates if ID_NAME.search(str(c).strip())]
    text = [c for c in candidates if pd.to_numeric(table[c], errors="coerce").isna().any()]
    return (named or text or [None])[0]


def target_entry(
    values: pd.Series, source: str, name: str, bad: Sequence[str], good: Sequence[str] | None
) -> tuple[dict[str, Any], list[str]]:
    """The target's entry: bad as given, good as given or every other observed value."""
    observed = sorted({code_text(_plain(v)) for v in values.dropna()})
    bad = [code_text(_plain(v)) for v in bad]
    unknown = [v for v in bad if v not in observed]
    if unknown:
        raise SystemExit(
            f"--bad {unknown}: not a value of column {source!r} (its values: {observed[:20]})"
        )
    good = [code_text(_plain(v)) for v in good] if good else [v for v in observed if v not in bad]
    if not good:
        raise SystemExit(f"column {source!r} has no value besides the bad ones {bad}")
    notes = [f"target {source!r}: bad {bad}, good {good}"]
    if values.isna().any():
        notes.append(
            f"target {source!r} is missing in {values.isna().sum()} rows: they will be quarantined"
        )
    entry = {"name": name, "source": source, "label": "Defaulted", "bad": bad, "good": good}
    return entry, notes


def _plain(value: Any) -> Any:
    """A text value that is a number, as that number (so "1.0" and 1 are the same code)."""
    try:
        return float(str(value).replace(",", "."))
    except ValueError:
        return value


def draft_contract(
    table: pd.DataFrame,
    read: dict[str, Any],
    *,
    target: str,
    bad: Sequence[str],
    good: Sequence[str] | None = None,
    id_column: str | None = None,
    portfolio: str = "",
    max_categories: int = MAX_CATEGORIES,
) -> Draft:
    """The contract of ``table`` (all text) as a plain mapping, with notes for the reviewer."""
    if target not in table.columns:
        raise SystemExit(f"--target {target!r}: no such column (columns: {list(table.columns)})")
    id_column = id_column or find_id(table, {target})
    taken: set[str] = set()
    review: list[str] = []
    identifier: dict[str, Any] = {"name": "applicant_id", "generate": True}
    if id_column is not None:
        identifier = {"name": snake_name(str(id_column), taken), "source": id_column}
        review.append(f"id: column {id_column!r} (unique, complete; read as text)")
    else:
        taken.add("applicant_id")
        review.append("id: no unique column found: generated 1..n in file order")
    target_map, notes = target_entry(table[target], target, snake_name(target, taken), bad, good)
    review += notes
    characteristics = []
    for source in (c for c in table.columns if c not in (target, id_column)):
        name = snake_name(str(source), taken)
        entry, note = characteristic(
            str(source), table[source], name, read.get("decimal", "."), max_categories
        )
        review.append(f"{source!r} -> {name}: {note}")
        if entry is not None:
            characteristics.append(entry)
    contract = {
        "portfolio": {
            "name": portfolio,
            "description": f"Drafted from {len(table):,} rows: describe the applicants here.",
            "source": "",
        },
        "id": identifier,
        "target": target_map,
        "characteristics": characteristics,
    }
    return Draft(contract, read, review)


# ----------------------------------------------------------------------------- the env


def env_files(draft: Draft, env: str, data_path: str, conf: Path) -> dict[str, str]:
    """File name -> text of every file ``conf/<env>/`` needs besides what base gives it."""
    contract = draft.contract
    header = (
        f"# Applicant contract of portfolio env `{env}`, drafted by\n"
        f"# `python -m quantumfinance.contract draft` from {data_path}.\n"
        "# Review it: labels, descriptions, ranges (observed min/max), protected attributes,\n"
        "# monotonic trends, use_in_model. Field reference: conf/base/applicant_contract.yml.\n"
    )
    base_mlflow = (conf / "base" / "mlflow.yml").read_text(encoding="utf-8")
    mlflow = re.sub(
        r"mlflow_tracking_uri: \S+.*",
        f"mlflow_tracking_uri: sqlite:///mlflow-{env}.db",
        base_mlflow,
    )
    mlflow = re.sub(r"(experiment:\n\s+name:) \S+", rf"\1 quantumfinance-{env}", mlflow)
    ingest = {
        "ingest": {
            "source": "file",
            "path": data_path,
            "read": draft.read,
            "max_mismatch_fraction": 0.05,
            "n_rows": 100000,
            "seed": 42,
        }
    }
    name = contract["portfolio"]["name"]
    reporting = {
        "reporting": {
            "model_card": {
                "portfolio": name,
                "data_description": [
                    f"Drafted from {data_path}: say where the data come from and what period "
                    "they cover."
                ],
                "intended_use": "Describe the decisions this model supports.",
                "limitations": [
                    "The contract was drafted from the data: its ranges are the observed ones.",
                    "The score bands come from conf/base's policy: PD cut-offs relative to this "
                    "portfolio's training default rate, not its credit policy (set "
                    f"scoring.policy in conf/{env}/parameters_data_science.yml).",
                ],
            }
        }
    }
    return {
        CONTRACT_FILE: header + _yaml(contract),
        "catalog.yml": (
            f"# Portfolio env `{env}`: its own contract (data paths follow globals.yml).\n"
            + _yaml(
                {
                    "applicant_contract": {
                        "type": "quantumfinance.contract.ApplicantContractDataset",
                        "filepath": f"conf/{env}/{CONTRACT_FILE}",
                        "metadata": {"kedro-viz": {"layer": "contract"}},
                    }
                }
            )
        ),
        "globals.yml": f"# Portfolio env `{env}` keeps its data apart.\n"
        + _yaml({"data_root": f"data/{env}"}),
        "mlflow.yml": mlflow,
        "parameters_ingest.yml": f"# Where portfolio env `{env}` reads its applicants.\n"
        + _yaml(ingest),
        "parameters_reporting.yml": (
            f"# The model card texts of portfolio env `{env}` (the rest inherited from base).\n"
            + _yaml(reporting)
        ),
    }


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def write_env(
    draft: Draft, env: str, data_path: str, root: Path, force: bool = False
) -> list[Path]:
    """Write ``conf/<env>/`` (refusing to overwrite an existing env unless ``force``)."""
    folder = root / "conf" / env
    if folder.exists() and any(folder.iterdir()) and not force:
        raise SystemExit(f"{folder} already exists: pick another --env or pass --force")
    files = env_files(draft, env, data_path, root / "conf")
    checked = yaml.safe_load(files[CONTRACT_FILE])
    ApplicantContract.from_dict(checked, origin=str(folder / CONTRACT_FILE))  # valid, or say why
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    return written


def _data_path(path: Path, root: Path) -> str:
    """The file as parameters_ingest.yml names it: relative to the project when inside it."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(resolved)


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: draft the env, write it, print what to review."""
    parser = argparse.ArgumentParser(prog="python -m quantumfinance.contract")
    commands = parser.add_subparsers(dest="command", required=True)
    draft = commands.add_parser("draft", help="draft conf/<env>/ from a CSV or parquet file")
    draft.add_argument("file", type=Path)
    draft.add_argument("--target", required=True, help="the column that flags a default")
    draft.add_argument("--bad", nargs="+", required=True, help="target value(s) meaning bad")
    draft.add_argument("--good", nargs="+", help="target value(s) meaning good (default: others)")
    draft.add_argument("--env", required=True, help="name of the env to write: conf/<env>/")
    draft.add_argument("--id", dest="id_column", help="the id column (default: detected)")
    draft.add_argument("--portfolio", help="the portfolio's name (default: the env's)")
    draft.add_argument("--max-categories", type=int, default=MAX_CATEGORIES)
    draft.add_argument("--project", type=Path, default=Path.cwd(), help="project root")
    draft.add_argument("--force", action="store_true", help="overwrite an existing env")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", args.env) or args.env in ("base", "local"):
        raise SystemExit(f"--env {args.env!r}: use a new lower-case name (not base or local)")
    if not (args.project / "conf" / "base").is_dir():
        raise SystemExit(f"{args.project}: not a project root (no conf/base); pass --project")
    if not args.file.is_file():
        raise SystemExit(f"{args.file}: no such file")
    table, read = read_as_text(args.file)
    result = draft_contract(
        table,
        read,
        target=args.target,
        bad=args.bad,
        good=args.good,
        id_column=args.id_column,
        portfolio=args.portfolio or args.env,
        max_categories=args.max_categories,
    )
    data_path = _data_path(args.file, args.project)
    written = write_env(result, args.env, data_path, args.project, args.force)
    out = sys.stdout
    out.write(f"Wrote {', '.join(str(p) for p in written)}\n\nReview before `make run`:\n")
    out.writelines(f"  - {line}\n" for line in result.review)
    options = ", ".join(f"{k} {v!r}" for k, v in read.items()) or "none (parquet)"
    out.write(
        f"  - reader options ({options}) in conf/{args.env}/parameters_ingest.yml\n"
        "  - labels, descriptions, units, monotonic trends; mark protected attributes "
        "(protected: true, use_in_model: false where they must not be inputs)\n"
        "  - ranges are the observed min/max: widen them to what is plausible\n"
        f"  - the model card texts in conf/{args.env}/parameters_reporting.yml\n"
        f"\nThen: kedro run --env {args.env} --pipelines=ingest  (checks the contract against the "
        f"data)\n      make run ENV={args.env}\n"
    )
    return 0
