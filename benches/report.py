#!/usr/bin/env python3
"""Ratios from the `sframe` criterion bench, as Markdown tables.

Reads what the bench `benches/benches/sframe.rs` left under the criterion directory
(`<id>/<run>/benchmark.json` and `sample.json`; `<run>` is `new` for the latest run, or the
name given to `--save-baseline`) and prints, per operation (seal, open), suite, payload size
and backend:

    telesfu / raw-aead        what SFrame costs over the AEAD alone (target <= 1.10)
    telesfu / sframe-crate    against the peer crate (target <= 1.00)

Two statistics of criterion's samples (each sample: the mean time per frame over one batch
of iterations) give each ratio:

    median    of the samples of all runs given, pooled;
    fastest   the fastest sample: on a shared machine other processes only ever add time,
              so the fastest sample is the one least disturbed.

A target counts as met when both agree it is; "noisy" when they disagree. With several runs
the per-run median ratios show how far one run can be trusted. The tables go to
`docs/bench-sframe.md` with the date, the machine and the commands.

Usage (from the repository root):

    cargo bench -p telesfu-benches --bench sframe -- --save-baseline run1
    cargo bench -p telesfu-benches --bench sframe -- --save-baseline run2
    python3 benches/report.py --runs run1 run2

`python3 benches/report.py` alone reports the latest run. Standard library only.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = "cargo bench -p telesfu-benches --bench sframe"
OPS = ("seal", "open")
RAW, OURS, PEER = "raw-aead", "telesfu", "sframe-crate"
PEER_BACKEND = "ring"
TARGET_RAW = 1.10
TARGET_PEER = 1.00


def target_dir():
    env = os.environ.get("CARGO_TARGET_DIR")
    if env:
        return Path(env)
    try:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--no-deps"],
            cwd=ROOT, capture_output=True, check=True, text=True,
        ).stdout
        return Path(json.loads(out)["target_directory"])
    except (OSError, subprocess.CalledProcessError, ValueError, KeyError):
        return ROOT / "target"


def load(criterion_dir, runs):
    """{(op, suite, size, contender, backend): {run: [ns per frame, one per sample]}}."""
    results = {}
    mtimes = []
    for run in runs:
        for bench_json in criterion_dir.glob(f"**/{run}/benchmark.json"):
            try:
                meta = json.loads(bench_json.read_text())
                sample_path = bench_json.with_name("sample.json")
                sample = json.loads(sample_path.read_text())
            except (OSError, ValueError):
                print(f"skipping unreadable {bench_json}", file=sys.stderr)
                continue
            parts = meta.get("group_id", "").split("/")
            if len(parts) != 3 or parts[0] not in OPS or not parts[2].endswith("B"):
                continue  # another bench's group
            try:
                size = int(parts[2][:-1])
            except ValueError:
                continue
            per_frame = [t / n for t, n in zip(sample["times"], sample["iters"]) if n > 0]
            if not per_frame:
                continue
            key = (parts[0], parts[1], size, meta.get("function_id"), meta.get("value_str"))
            results.setdefault(key, {})[run] = per_frame
            mtimes.append(sample_path.stat().st_mtime)
    return results, mtimes


def pooled(by_run):
    samples = [x for xs in by_run.values() for x in xs]
    return statistics.median(samples), min(samples)


def ratios(ours, base, runs):
    """(median ratio, fastest ratio, [median ratio per run]) or None."""
    if not ours or not base:
        return None
    (om, of), (bm, bf) = pooled(ours), pooled(base)
    per_run = [statistics.median(ours[r]) / statistics.median(base[r])
               for r in runs if r in ours and r in base]
    return om / bm, of / bf, per_run


def verdict(r, target):
    if r is None:
        return "not measured"
    met = (r[0] <= target, r[1] <= target)
    if all(met):
        return "yes"
    if not any(met):
        return "**no**"
    return "noisy"


def fmt_ratio_row(key, r, target, multi):
    op, suite, size, backend = key
    if r is None:
        cells = ["n/a", "n/a"] + (["n/a"] if multi else [])
    else:
        cells = [f"**{r[0]:.3f}**", f"{r[1]:.3f}"]
        if multi:
            cells.append(", ".join(f"{x:.3f}" for x in r[2]))
    return f"| {op} | {suite} | {size} | {backend} | " + " | ".join(
        cells + [verdict(r, target)]) + " |"


def fmt_time(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def spread(by_run):
    """Relative median absolute deviation of the pooled samples."""
    samples = [x for xs in by_run.values() for x in xs]
    med = statistics.median(samples)
    return statistics.median(abs(x - med) for x in samples) / med


def machine():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return tool(["nproc"]) or str(os.cpu_count()), model


def tool(args):
    try:
        return subprocess.run(args, cwd=ROOT, capture_output=True, check=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def render(results, mtimes, runs, criterion_dir):
    multi = len(runs) > 1
    groups = sorted({k[:3] for k in results}, key=lambda g: (OPS.index(g[0]), g[1], g[2]))
    backends = sorted({k[4] for k in results if k[3] in (RAW, OURS)},
                      key=lambda b: (b != "ring", b))
    head = ("| op | suite | payload B | backend | median | fastest sample | "
            + ("median per run | " if multi else "") + "target met |")
    rule = "|---|---|---:|---|---:|---:|" + ("---|" if multi else "") + "---|"
    vs_raw, vs_peer, times = [head, rule], [head, rule], []
    for op, suite, size in groups:
        peer = results.get((op, suite, size, PEER, PEER_BACKEND))
        for backend in backends or ["none measured"]:
            raw = results.get((op, suite, size, RAW, backend))
            ours = results.get((op, suite, size, OURS, backend))
            if raw is None and ours is None and backends:
                continue
            key = (op, suite, size, backend)
            vs_raw.append(fmt_ratio_row(key, ratios(ours, raw, runs), TARGET_RAW, multi))
            vs_peer.append(fmt_ratio_row(key, ratios(ours, peer, runs), TARGET_PEER, multi))
            cells = []
            for by_run in (raw, ours, peer):
                if by_run is None:
                    cells.append("n/a")
                else:
                    m, f = pooled(by_run)
                    cells.append(f"{fmt_time(m)} / {fmt_time(f)} (±{100 * spread(by_run):.0f}%)")
            times.append(f"| {op} | {suite} | {size} | {backend} | " + " | ".join(cells) + " |")

    nproc, model = machine()
    now = datetime.datetime.now().astimezone()
    span = ""
    if mtimes:
        first = datetime.datetime.fromtimestamp(min(mtimes)).astimezone()
        last = datetime.datetime.fromtimestamp(max(mtimes)).astimezone()
        span = f"; measured {first:%Y-%m-%d %H:%M} to {last:%H:%M %Z}"
    commands = ([f"{BENCH} -- --save-baseline {r}" for r in runs] if runs != ["new"]
                else [BENCH])
    report_cmd = "python3 benches/report.py" + (
        " --runs " + " ".join(runs) if runs != ["new"] else "")
    out = [
        "# SFrame seal/open: telesfu against raw AEAD and the sframe crate",
        "",
        f"- Date: {now:%Y-%m-%d %H:%M %Z}{span}",
        f"- Machine: {nproc} CPUs (`nproc`), {model}; shared with other builds, so noisy",
        f"- Toolchain: {tool(['rustc', '-V']) or 'unknown'}; "
        f"commit {tool(['git', 'rev-parse', '--short', 'HEAD']) or 'unknown'}",
        "- Commands:",
        *[f"  - `{c}`" for c in commands],
        f"  - `{report_cmd}`",
        f"- Data: `{criterion_dir}`, runs: {', '.join(runs)}",
        "",
        "`raw-aead` is the backend's AEAD alone on the same bytes, key, nonce and 5-byte header",
        "AAD, at the same buffer offsets as telesfu's: the physical limit. `telesfu` is `Context::seal_in_place` / `open_in_place` (replay",
        "window on). `sframe-crate` is the `sframe` 2.1 crate with its ring backend (its only one",
        "for these suites) through its `_into` APIs and its replay protection; every backend row",
        "compares against that same figure, so only the `ring` rows compare like with like.",
        "The bench checks that all three produce byte-identical frames before it measures.",
        "",
        "Ratios are of time per frame, lower is better. `median`: medians of the pooled samples;",
        "`fastest sample`: the least disturbed sample of each side. The target counts as met when",
        "both statistics meet it, `noisy` when they disagree.",
        "",
        f"## telesfu / raw-aead (target <= {TARGET_RAW:.2f})",
        "",
        *vs_raw,
        "",
        f"## telesfu / sframe-crate (target <= {TARGET_PEER:.2f})",
        "",
        *vs_peer,
        "",
        "## Times per frame (median / fastest sample, ± relative median absolute deviation)",
        "",
        "For orientation only: absolute times drift on a shared machine.",
        "",
        "| op | suite | payload B | backend | raw-aead | telesfu | sframe-crate (ring) |",
        "|---|---|---:|---|---:|---:|---:|",
        *times,
        "",
    ]
    if not results:
        out.append("_No results of the sframe bench found: run it first._\n")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--criterion", type=Path,
                    help="criterion output directory (default: <cargo target dir>/criterion)")
    ap.add_argument("--runs", nargs="+", default=["new"],
                    help="run names: `new` (latest) or names given to --save-baseline")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-sframe.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    criterion_dir = args.criterion or target_dir() / "criterion"
    if not criterion_dir.is_dir():
        sys.exit(f"no criterion output at {criterion_dir}: run `{BENCH}` first")
    results, mtimes = load(criterion_dir, args.runs)
    shown = criterion_dir
    try:
        shown = criterion_dir.resolve().relative_to(ROOT)
    except ValueError:
        pass
    text = render(results, mtimes, args.runs, shown)
    print(text)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"written to {args.out}", file=sys.stderr)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
