"""hyperflax AutoML against FLAML 2.7 and AutoGluon 1.6 at the same time limit (issue 8).

Each system fits the same raw train DataFrame of every data set in ``bench/_tables.py``
(categoricals as categoricals/strings, missing values as they are) within ``--time-limit``
seconds, then predicts the test quarter. Reported per data set: test log loss and accuracy
(classification) or RMSE and R² (regression) on the fixed 75/25 split (seed 0) and, with
``--repeats``, the mean over splits 1-3; fit wall time against the limit; the mean rank of each
system on the main metric (log loss / RMSE); and hyperflax's % gap to the best peer.

Every fit runs in a fresh subprocess (``bench/_automl_runner.py``): FLAML and AutoGluon in their
own venv ``bench/.venv-peers`` (built from nothing on first use by ``bench/_peer_venv.py``,
about 2 GB and a few minutes; never a project dependency), hyperflax in the project venv with
this checkout's ``src`` first on ``PYTHONPATH``. A system that is missing or fails is recorded
as "n/a" with its error; the benchmark goes on. Systems run one at a time, never in parallel.

Results are merged into a JSON file keyed by (system, data set, split, time limit), so partial
runs combine: peers now, hyperflax later, then one table::

    .venv/bin/python -m bench.automl_vs_peers --systems flaml,autogluon          # peers
    .venv/bin/python -m bench.automl_vs_peers --systems hyperflax                # hyperflax
    .venv/bin/python -m bench.automl_vs_peers --report-only                      # merged table
    .venv/bin/python -m bench.automl_vs_peers --repeats --systems hyperflax      # + splits 1-3

Existing results are kept (use ``--force`` to refit). Output: a Markdown table printed and
written to ``bench/results/automl_vs_peers.md``, and the JSON in
``bench/results/automl_vs_peers.json``. Not part of ``make bench`` (it needs the peer venv and
about 2 x 12 x 70 s for the peers alone). Timings are noisy on a shared 2-core machine.
"""

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

from bench import _tables

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RUNNER = BENCH / "_automl_runner.py"
RESULTS = BENCH / "results" / "automl_vs_peers.json"
SYSTEMS = ("hyperflax", "flaml", "autogluon")
LABELS = {
    "hyperflax": "hyperflax",
    "flaml": "FLAML",
    "autogluon": "AutoGluon",
    "hyperflax-best": "hyperflax best",
    "autogluon-best": "AutoGluon best_quality",
}
#: Also selectable: the bagged presets (issue 9), compared with ``--results`` of their own.
ALL_SYSTEMS = ("hyperflax", "hyperflax-best", "flaml", "autogluon", "autogluon-best")


def _hx(systems) -> str:
    """The hyperflax system the goal check is about: the first one in ``systems``."""
    return next((s for s in systems if s.startswith("hyperflax")), "hyperflax")


EPS = 1e-15


def promise_s(time_limit: float) -> float:
    """The wall time a fit may take (issue 8: +10%, plus a few seconds for small limits)."""
    return 1.1 * time_limit + 5.0


def main_metric(task: str) -> str:
    return "rmse" if task == "regression" else "log_loss"


def scores(task: str, y_test, out: dict) -> dict:
    if task == "regression":
        pred = np.asarray(out["pred"], dtype=float)
        return {
            "rmse": float(math.sqrt(mean_squared_error(y_test, pred))),
            "r2": float(r2_score(y_test, pred)),
        }
    truth = np.asarray([str(v) for v in y_test])
    labels = sorted(set(truth) | set(out["classes"]))
    proba = np.zeros((len(truth), len(labels)))
    given = np.asarray(out["proba"], dtype=float)
    for j, c in enumerate(out["classes"]):
        proba[:, labels.index(c)] = given[:, j]
    proba = np.clip(proba, EPS, 1.0)
    proba /= proba.sum(axis=1, keepdims=True)
    pred = np.asarray([str(v) for v in out["pred"]])
    return {
        "log_loss": float(log_loss(truth, proba, labels=labels)),
        "accuracy": float(accuracy_score(truth, pred)),
    }


def python_for(system: str) -> str:
    if system.startswith("hyperflax"):
        return sys.executable
    from bench._peer_venv import ensure_peer_venv

    return str(ensure_peer_venv())


def run_one(
    system: str, table: _tables.Table, seed: int, time_limit: float, hx_src: Path = REPO / "src"
) -> dict:
    record = {
        "system": system,
        "dataset": table.name,
        "task": table.task,
        "seed": seed,
        "time_limit": time_limit,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    x_train, x_test, y_train, y_test = _tables.split(table, seed)
    env = dict(os.environ)
    if system.startswith("hyperflax"):
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(hx_src), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix=f"hxbench-{system}-") as tmp:
        work = Path(tmp)
        x_train.assign(**{y_train.name: y_train}).to_parquet(work / "train.parquet")
        x_test.to_parquet(work / "test.parquet")
        (work / "meta.json").write_text(json.dumps({"target": y_train.name}))
        cmd = [python_for(system), str(RUNNER), system, tmp, str(time_limit), table.task, str(seed)]
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                cmd,
                cwd=tmp,  # stray files (mlflow.db, logs) land in the temp dir
                env=env,
                capture_output=True,
                text=True,
                timeout=3 * time_limit + 300,
            )
        except subprocess.TimeoutExpired:
            return record | {"status": "n/a", "error": "timed out (killed at 3 x limit + 300 s)"}
        record["process_s"] = round(time.perf_counter() - start, 2)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
            return record | {"status": "n/a", "error": "\n".join(tail) or f"exit {proc.returncode}"}
        result = json.loads(lines[-1][len("RESULT ") :])
        out = json.loads((work / "predictions.json").read_text())
    record.update(
        status="ok",
        version=result["version"],
        fit_s=round(result["fit_s"], 2),
        predict_s=round(result["predict_s"], 3),
        within_promise=result["fit_s"] <= promise_s(time_limit),
        peak_rss_mb=result.get("peak_rss_mb"),
        validation=result.get("validation"),
        **scores(table.task, y_test, out),
    )
    return record


def key(rec: dict) -> str:
    return f"{rec['system']}|{rec['dataset']}|{rec['seed']}|{rec['time_limit']:g}"


def load_results(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {"runs": {}}


def save_results(path: Path, results: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


# ---------------------------------------------------------------- report


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _ranks(values: dict[str, float | None], systems: list[str]) -> dict[str, float]:
    """Average ranks (1 = best, lower metric better); a system without a result ranks last."""
    finite = {s: v for s, v in values.items() if v is not None and math.isfinite(v)}
    order = sorted(finite.values())
    ranks = {}
    for s in systems:
        if s in finite:
            first = order.index(finite[s]) + 1
            ties = order.count(finite[s])
            ranks[s] = first + (ties - 1) / 2
        else:
            ranks[s] = float(len(systems))
    return ranks


def _gap(values: dict[str, float | None], systems) -> float | None:
    hx = values.get(_hx(systems))
    others = [s for s in systems if not s.startswith("hyperflax")]
    peers = [v for p in others if (v := values.get(p)) is not None]
    if hx is None or not peers:
        return None
    best = min(peers)
    return 100.0 * (hx - best) / abs(best)


def report(results: dict, time_limit: float, datasets: list[str], systems: list[str]) -> str:
    runs = [r for r in results["runs"].values() if r["time_limit"] == time_limit]
    by = {(r["system"], r["dataset"], r["seed"]): r for r in runs}
    info = {d: results.get("datasets", {}).get(d, {}) for d in datasets}
    shown = [d for d in datasets if any((s, d, 0) in by for s in systems)]
    lines = [
        f"## AutoML on tables: hyperflax vs FLAML vs AutoGluon, time_limit={time_limit:g} s",
        "",
        f"Machine: {results.get('machine', '?')}. Systems: "
        + ", ".join(f"{LABELS[s]} {_version(runs, s)}" for s in systems)
        + ". AutoGluon uses presets=medium_quality (best_quality where named); each system"
        " optimizes log loss"
        " (classification) or RMSE (regression). Timings are noisy: the 2 cores are shared"
        " with other work.",
        "",
        "### Fixed 75/25 split (seed 0): test metric (secondary metric)",
        "",
        "| data set | task | rows | metric | "
        + " | ".join(LABELS[s] for s in systems)
        + " | hyperflax vs best peer |",
        "|" + "---|" * (5 + len(systems)),
    ]
    ranked = [s for s in systems if any((s, d, 0) in by for d in shown)]
    rank_rows: list[dict[str, float | None]] = []
    gaps = {}
    for d in shown:
        task = info[d].get("task") or next(r["task"] for r in runs if r["dataset"] == d)
        metric = main_metric(task)
        second = "r2" if task == "regression" else "accuracy"
        values, cells = {}, []
        for s in systems:
            r = by.get((s, d, 0))
            if r is None or r["status"] != "ok":
                values[s] = None
                cells.append("n/a" if r else "—")
                continue
            values[s] = r[metric]
            cells.append(f"{_fmt(r[metric])} ({_fmt(r[second], 3)})")
        best = min((v for v in values.values() if v is not None), default=None)
        cells = [
            f"**{c}**" if values[s] == best and best is not None else c
            for s, c in zip(systems, cells, strict=True)
        ]
        if all((s, d, 0) in by for s in ranked):  # a failed run ranks last; a missing one skips
            rank_rows.append({s: values[s] for s in ranked})
        gaps[d] = _gap(values, systems)
        gap = "—" if gaps[d] is None else f"{gaps[d]:+.1f}%"
        label = "log loss (acc)" if metric == "log_loss" else "RMSE (R²)"
        lines.append(
            f"| {d} | {task} | {info[d].get('rows', '?')} | {label} | "
            + " | ".join(cells)
            + f" | {gap} |"
        )
    if rank_rows:
        lines.append(
            f"| **mean rank** (1 = best, {len(rank_rows)} data sets) | | | | "
            + _rank_cells(rank_rows, systems)
            + " | |"
        )
    lines += _time_table(by, shown, systems, time_limit)
    lines += _repeat_table(by, shown, systems, info)
    lines += _summary(by, shown, systems, time_limit, gaps)
    lines += _honesty_table(by, shown, systems, info)
    lines += _failures(runs, systems)
    return "\n".join(lines) + "\n"


def _rank_cells(rows: list[dict[str, float | None]], systems: list[str]) -> str:
    """Mean rank of each system over rows (each row: the systems ranked on one data set)."""
    ranked = list(rows[0])
    mean = {s: 0.0 for s in ranked}
    for row in rows:
        for s, rank in _ranks(row, ranked).items():
            mean[s] += rank / len(rows)
    best = min(mean.values())
    return " | ".join(
        "—" if s not in mean else f"**{mean[s]:.2f}**" if mean[s] == best else f"{mean[s]:.2f}"
        for s in systems
    )


def _version(runs: list[dict], system: str) -> str:
    versions = sorted(
        {r.get("version", "?") for r in runs if r["system"] == system and r["status"] == "ok"}
    )
    return "/".join(versions) if versions else "(no result)"


def _time_table(by, shown, systems, time_limit) -> list[str]:
    lines = [
        "",
        f"### Fit wall time (s), seed 0; promise: ≤ {promise_s(time_limit):.0f} s"
        " (limit + 10% + 5 s)",
        "",
        "| data set | " + " | ".join(LABELS[s] for s in systems) + " |",
        "|" + "---|" * (1 + len(systems)),
    ]
    for d in shown:
        cells = []
        for s in systems:
            r = by.get((s, d, 0))
            if r is None or r["status"] != "ok":
                cells.append("n/a" if r else "—")
            else:
                flag = "" if r["within_promise"] else " ⚠ over"
                cells.append(f"{r['fit_s']:.1f}{flag}")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return lines


def _repeat_table(by, shown, systems, info) -> list[str]:
    seeds = _tables.REPEAT_SEEDS
    if not any((s, d, k) in by for s in systems for d in shown for k in seeds):
        return []
    lines = [
        "",
        f"### Repeated splits (seeds {', '.join(map(str, seeds))}): mean ± sd of the main metric",
        "",
        "| data set | metric | " + " | ".join(LABELS[s] for s in systems) + " |",
        "|" + "---|" * (2 + len(systems)),
    ]
    ranked = [s for s in systems if any((s, d, k) in by for d in shown for k in seeds)]
    rank_rows: list[dict[str, float | None]] = []
    for d in shown:
        metric = main_metric(info[d].get("task", "regression"))
        means, cells = {}, []
        for s in systems:
            vals = [
                by[(s, d, k)][metric] for k in seeds if by.get((s, d, k), {}).get("status") == "ok"
            ]
            if len(vals) == len(seeds):
                means[s] = float(np.mean(vals))
                cells.append(f"{means[s]:.4f} ± {np.std(vals):.4f}")
            else:
                means[s] = None
                cells.append(f"{len(vals)}/{len(seeds)} splits" if vals else "—")
        if all((s, d, k) in by for s in ranked for k in seeds):
            rank_rows.append({s: means[s] for s in ranked})
        lines.append(f"| {d} | {metric} | " + " | ".join(cells) + " |")
    if rank_rows:
        lines.append(
            f"| **mean rank** ({len(rank_rows)} data sets) | | "
            + _rank_cells(rank_rows, systems)
            + " |"
        )
    return lines


def _summary(by, shown, systems, time_limit, gaps) -> list[str]:
    hx = _hx(systems)
    lines = ["", "### Goal check (issue 8)", ""]
    if not any(by.get((hx, d, 0), {}).get("status") == "ok" for d in shown):
        return [*lines, f"- {hx}: no result yet."]
    known = {d: g for d, g in gaps.items() if g is not None}
    worse = [f"{d} ({g:+.1f}%)" for d, g in known.items() if g > 1.0]
    lines.append(
        f"- within 1% of the best peer (or better) on {len(known) - len(worse)}/{len(known)}"
        " data sets that have both" + (f"; worse than 1% on: {', '.join(worse)}" if worse else "")
    )
    fits = [by[(hx, d, 0)] for d in shown if by.get((hx, d, 0), {}).get("status") == "ok"]
    over = [f"{r['dataset']} ({r['fit_s']:.1f} s)" for r in fits if not r["within_promise"]]
    if fits:
        lines.append(
            f"- {hx} fit time: max {max(r['fit_s'] for r in fits):.1f} s"
            f" for a {time_limit:g} s limit"
            + (f"; over the promise on: {', '.join(over)}" if over else "; never over the promise")
        )
    return lines


def _honesty_table(by, shown, systems, info) -> list[str]:
    """Each system's own validation estimate against its test score, and its peak memory."""
    rows = [
        (d, s, by[(s, d, 0)])
        for d in shown
        for s in systems
        if by.get((s, d, 0), {}).get("validation") is not None
    ]
    if not rows:
        return []
    lines = [
        "",
        "### Validation estimate against the test score (fixed split), and peak memory",
        "",
        "hyperflax: the ensemble's (or stack's) score on out-of-fold predictions of every",
        "row (bagged) or on its held-out split; AutoGluon: its best model's `score_val`.",
        "",
        "| data set | system | metric | validation | test | test - validation | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for d, s, r in rows:
        metric = main_metric(info[d].get("task", "regression"))
        gap = r[metric] - r["validation"]
        rss = r.get("peak_rss_mb")
        lines.append(
            f"| {d} | {LABELS[s]} | {metric} | {r['validation']:.4f} | {r[metric]:.4f} "
            f"| {gap:+.4f} | {_fmt(rss, 0)} |"
        )
    return lines


def _failures(runs, systems) -> list[str]:
    failed = [r for r in runs if r["system"] in systems and r["status"] != "ok"]
    if not failed:
        return []
    lines = ["", "### Failures (recorded as n/a)", ""]
    for r in sorted(failed, key=key):
        first = r.get("error", "").strip().splitlines()[-1:] or ["?"]
        lines.append(
            f"- {LABELS[r['system']]} on {r['dataset']} (seed {r['seed']}): `{first[0][:200]}`"
        )
    return lines


# ---------------------------------------------------------------- command line


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}), {platform.system()}"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per fit (default 60)")
    p.add_argument("--datasets", default="all", help=f"comma list of {', '.join(_tables.LOADERS)}")
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma list (default: all three)")
    p.add_argument(
        "--repeats",
        type=int,
        nargs="?",
        const=len(_tables.REPEAT_SEEDS),
        default=0,
        help="also run repeated splits 1..N (flag alone: 3)",
    )
    p.add_argument("--no-fixed", action="store_true", help="skip the fixed split (seed 0)")
    p.add_argument("--results", type=Path, default=RESULTS, help="JSON file to merge results into")
    p.add_argument("--markdown", type=Path, default=None, help="default: RESULTS with .md")
    p.add_argument("--report-only", action="store_true", help="print the table from --results")
    p.add_argument(
        "--hx-src",
        type=Path,
        default=REPO / "src",
        help="hyperflax source put first on PYTHONPATH (default: this checkout's src)",
    )
    p.add_argument("--force", action="store_true", help="refit runs already in --results")
    args = p.parse_args(argv)
    args.datasets = list(_tables.LOADERS) if args.datasets == "all" else args.datasets.split(",")
    args.systems_given = args.systems != ",".join(SYSTEMS)
    args.systems = args.systems.split(",")
    for name in args.datasets:
        if name not in _tables.LOADERS:
            p.error(
                f"--datasets: unknown data set {name!r}; choose from {', '.join(_tables.LOADERS)}"
            )
    for name in args.systems:
        if name not in ALL_SYSTEMS:
            p.error(f"--systems: unknown system {name!r}; choose from {', '.join(ALL_SYSTEMS)}")
    args.systems = list(dict.fromkeys(args.systems))  # in the order given
    if args.markdown is None:
        args.markdown = args.results.with_suffix(".md")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    results = load_results(args.results)
    if not args.report_only:
        results["machine"] = machine()
        seeds = ([] if args.no_fixed else [_tables.FIXED_SEED]) + list(
            _tables.REPEAT_SEEDS[: args.repeats]
        )
        for name in args.datasets:
            table = _tables.load(name)
            results.setdefault("datasets", {})[name] = _tables.describe(table)
            for seed in seeds:
                for system in args.systems:
                    k = f"{system}|{name}|{seed}|{args.time_limit:g}"
                    old = results["runs"].get(k)
                    if old and old["status"] == "ok" and not args.force:
                        continue
                    print(f"[{system}] {name} seed {seed} ...", end=" ", flush=True)
                    rec = run_one(system, table, seed, args.time_limit, args.hx_src)
                    metric = main_metric(table.task)
                    print(
                        f"{metric}={_fmt(rec.get(metric))} fit={rec.get('fit_s', 'n/a')} s"
                        if rec["status"] == "ok"
                        else f"n/a: {rec['error'].splitlines()[-1][:200]}",
                        flush=True,
                    )
                    results["runs"][k] = rec
                    save_results(args.results, results)
    shown = args.systems if args.systems_given else list(SYSTEMS)  # all columns, merged
    text = report(results, args.time_limit, args.datasets, shown)
    print(text)
    args.markdown.parent.mkdir(parents=True, exist_ok=True)
    args.markdown.write_text(text)


if __name__ == "__main__":
    main()
