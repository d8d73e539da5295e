"""Run every benchmark section and write docs/benchmarks.md (machine and date at the top).

Each `benchmarks/bench_*.py` exposes `TITLE: str` and `run() -> str` (a Markdown section).
`python -m benchmarks bench_serving` runs only the named sections and keeps the others' last
results in the file.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
import sys

from benchmarks.common import REPO_ROOT, machine_description

OUTPUT = REPO_ROOT / "docs" / "benchmarks.md"
SECTION = re.compile(r"^<!-- section: (\w+) -->$.*?^<!-- end: \1 -->$", re.M | re.S)


def _modules() -> list[str]:
    return sorted(p.stem for p in (REPO_ROOT / "benchmarks").glob("bench_*.py"))


def main(argv: list[str]) -> None:
    selected = argv or _modules()
    old = OUTPUT.read_text() if OUTPUT.exists() else ""
    sections = {m.group(1): m.group(0) for m in SECTION.finditer(old)}
    for name in selected:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {module.TITLE}", flush=True)  # noqa: T201
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        load_before = os.getloadavg()[0]
        body = module.run()
        load = f"load average (1 min) {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
        sections[name] = (
            f"<!-- section: {name} -->\n## {module.TITLE}\n\n"
            f"Measured {stamp} on {machine_description()}; {load}.\n\n{body.strip()}\n"
            f"<!-- end: {name} -->"
        )
        print(body, flush=True)  # noqa: T201
    header = (
        "# Benchmarks\n\nWritten by `make bench` (`python -m benchmarks [bench_name ...]`); "
        "each section says when and on which machine it was measured.\n"
    )
    OUTPUT.write_text(header + "\n" + "\n\n".join(sections[k] for k in sorted(sections)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
