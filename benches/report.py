#!/usr/bin/env python3
"""Ratios from the `sframe` criterion bench, as a Markdown table.

Reads every `<criterion dir>/**/new/benchmark.json` (and the `estimates.json` beside it) that
the bench `benches/benches/sframe.rs` wrote, and prints, per operation (seal, open), suite,
payload size and backend:

    telesfu / raw-aead        the cost of SFrame over the AEAD alone (target <= 1.10)
    telesfu / sframe-crate    against the peer crate (target <= 1.00)

Each figure is the ratio of criterion's median time per frame; the bracket is the range the
two medians' 95% confidence intervals allow. The table also goes to `docs/bench-sframe.md`
with the date, the machine and the command.

Usage (from the repository root, after the bench ran):

    cargo bench -p telesfu-benches --bench sframe
    python3 benches/report.py [--criterion DIR] [--out FILE] [--no-write]

Standard library only.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "cargo bench -p telesfu-benches --bench sframe"
OPS = ("seal", "open")
RAW, OURS, PEER = "raw-aead", "telesfu", "sframe-crate"
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


def load(criterion_dir):
    """{(op, suite, size, contender, backend): (median, lo, hi, mad, mtime)} in ns."""
    results = {}
    for bench_json in criterion_dir.glob("**/new/benchmark.json"):
        try:
            meta = json.loads(bench_json.read_text())
            est_path = bench_json.with_name("estimates.json")
            est = json.loads(est_path.read_text())
        except (OSError, ValueError):
            print(f"skipping unreadable {bench_json}", file=sys.stderr)
            continue
        parts = meta.get("group_id", "").split("/")
        if len(parts) != 3 or parts[0] not in OPS or not parts[2].endswith("B"):
            continue  # another bench's group
        op, suite, size = parts[0], parts[1], int(parts[2][:-1])
        med = est["median"]
        ci = med["confidence_interval"]
        key = (op, suite, size, meta.get("function_id"), meta.get("value_str"))
        results[key] = (
            med["point_estimate"],
            ci["lower_bound"],
            ci["upper_bound"],
            est["median_abs_dev"]["point_estimate"],
            est_path.stat().st_mtime,
        )
    return results


def fmt_time(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def ratio(num, den):
    """Point ratio and the range the two confidence intervals allow."""
    if num is None or den is None:
        return None
    return num[0] / den[0], num[1] / den[2], num[2] / den[1]


def fmt_ratio(r):
    if r is None:
        return "n/a"
    return f"**{r[0]:.3f}** [{r[1]:.2f}–{r[2]:.2f}]"


def verdict(r_raw, r_peer):
    if r_raw is None:
        return "not measured"
    ok_raw = r_raw[0] <= TARGET_RAW
    ok_peer = r_peer is None or r_peer[0] <= TARGET_PEER
    misses = []
    if not ok_raw:
        misses.append(f"> {TARGET_RAW:.2f}x raw")
    if not ok_peer:
        misses.append("slower than sframe")
    return "yes" if not misses else "no (" + ", ".join(misses) + ")"


def machine():
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, check=True,
                               text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(os.cpu_count())
    return nproc, model


def tool(args):
    try:
        return subprocess.run(args, cwd=ROOT, capture_output=True, check=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(results, criterion_dir):
    rows = []
    groups = sorted({(op, s, n) for (op, s, n, _, _) in results},
                    key=lambda g: (OPS.index(g[0]), g[1], g[2]))
    backends = sorted({b for (_, _, _, f, b) in results if f in (RAW, OURS)},
                      key=lambda b: (b != "ring", b))
    for op, suite, size in groups:
        peer = results.get((op, suite, size, PEER, "ring"))
        for backend in backends or ["none measured"]:
            raw = results.get((op, suite, size, RAW, backend))
            ours = results.get((op, suite, size, OURS, backend))
            if raw is None and ours is None and backends:
                continue
            r_raw, r_peer = ratio(ours, raw), ratio(ours, peer)
            noise = max((x[3] / x[0] for x in (raw, ours, peer) if x), default=0.0)
            rows.append(
                f"| {op} | {suite} | {size} | {backend} "
                f"| {fmt_ratio(r_raw)} | {fmt_ratio(r_peer)} | {verdict(r_raw, r_peer)} "
                f"| {fmt_time(raw[0]) if raw else 'n/a'} "
                f"| {fmt_time(ours[0]) if ours else 'n/a'} "
                f"| {fmt_time(peer[0]) if peer else 'n/a'} "
                f"| {100 * noise:.1f}% |"
            )
    mtimes = [v[4] for v in results.values()]
    span = (max(mtimes) - min(mtimes)) / 60 if mtimes else 0.0
    nproc, model = machine()
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    run_at = (datetime.datetime.fromtimestamp(max(mtimes)).astimezone()
              .strftime("%Y-%m-%d %H:%M %Z") if mtimes else "never")
    out = [
        "# SFrame seal/open: telesfu against raw AEAD and the sframe crate",
        "",
        f"- Date: {now} (bench results written up to {run_at}, within {span:.0f} min)",
        f"- Machine: {nproc} CPUs (`nproc`), {model}",
        f"- Toolchain: {tool(['rustc', '-V'])}; commit {tool(['git', 'rev-parse', '--short', 'HEAD'])}",
        f"- Command: `{COMMAND}`, then `python3 benches/report.py`",
        f"- Source: `{criterion_dir}`",
        "",
        "Ratios of criterion's median time per frame (lower is better); brackets give the range the",
        "two medians' 95% confidence intervals allow. `raw-aead` is the backend's AEAD alone on the",
        "same bytes, key, nonce and 5-byte header AAD (the physical limit); `sframe-crate` is the",
        "`sframe` 2.1 crate with its ring backend (its only backend for these suites), so every",
        "backend row compares against the same sframe figure.",
        "",
        f"Targets: telesfu / raw-aead <= {TARGET_RAW:.2f}, telesfu / sframe-crate <= "
        f"{TARGET_PEER:.2f}.",
        "Noise: the largest median absolute deviation among the row's contenders, relative to",
        "its median. Absolute times drift on a shared machine; they are for orientation only.",
        "",
        "| op | suite | payload B | backend | telesfu / raw-aead | telesfu / sframe-crate "
        "| target met | raw-aead | telesfu | sframe-crate | noise |",
        "|---|---|---:|---|---|---|---|---:|---:|---:|---:|",
        *rows,
        "",
    ]
    if not rows:
        out.insert(-1, "_No results of the sframe bench found: run it first._")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--criterion", type=Path, help="criterion output directory "
                    "(default: <cargo target dir>/criterion)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bench-sframe.md")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    criterion_dir = args.criterion or target_dir() / "criterion"
    if not criterion_dir.is_dir():
        sys.exit(f"no criterion output at {criterion_dir}: run `{COMMAND}` first")
    results = load(criterion_dir)
    shown = criterion_dir
    try:
        shown = criterion_dir.resolve().relative_to(ROOT)
    except ValueError:
        pass
    text = render(results, shown)
    print(text)
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"written to {args.out}", file=sys.stderr)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
