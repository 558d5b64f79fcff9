#!/usr/bin/env python3
"""Chart and tabulate sesame's criterion results.

    cargo bench --bench tokens
    python3 scripts/bench-chart.py [--criterion DIR ...] [--out docs/benchmarks.png]

Reads the median of every benchmark from
<criterion>/<group>/<bench>/new/estimates.json and the token lengths the bench
wrote to <criterion>/token_lengths.txt, draws one panel per operation (seal,
open, refresh) into a PNG, and prints Markdown tables (median ns, ratio to
sesame, token length) for docs/BENCHMARKS.md. Needs matplotlib
(`pip install matplotlib`) only for the PNG; `--no-chart` skips it.
"""

import argparse
import json
import os
import sys

OPERATIONS = ["seal", "open", "refresh"]
# Display order: the floor, sesame, then its peers.
ORDER = [
    "floor_aes256gcm",
    "floor_aes256gcm_fresh_key",
    "floor_xaes256gcm",
    "sesame",
    "cookie_private",
    "branca",
    "fernet",
    "pasetors_v4_local_raw",
    "pasetors_v4_local",
]
EXTRA_GROUPS = ["nonce_draw", "ring_size_open", "open_threads"]


def median_ns(criterion, group, bench):
    """The median of one benchmark; with several result directories (runs of
    the whole suite), the smallest of their medians: on a shared machine
    interference only ever adds time."""
    values = []
    for d in criterion:
        path = os.path.join(d, group, bench, "new", "estimates.json")
        try:
            with open(path) as f:
                values.append(json.load(f)["median"]["point_estimate"])
        except (OSError, KeyError, ValueError):
            pass
    return min(values) if values else None


def spread(criterion, group, bench):
    """max/min of the per-run medians (1.0 with a single run)."""
    values = []
    for d in criterion:
        try:
            with open(os.path.join(d, group, bench, "new", "estimates.json")) as f:
                values.append(json.load(f)["median"]["point_estimate"])
        except (OSError, KeyError, ValueError):
            pass
    return max(values) / min(values) if values else None


def benches_in(criterion, group):
    names = set()
    for c in criterion:
        d = os.path.join(c, group)
        if os.path.isdir(d):
            names |= {n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n, "new", "estimates.json"))}
    known = [n for n in ORDER if n in names]
    return known + sorted((n for n in names if n not in known), key=natural)


def natural(name):
    """keys_8 before keys_64."""
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def token_lengths(criterion):
    lengths = {}
    try:
        with open(os.path.join(criterion[0], "token_lengths.txt")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[0] == "token_len":
                    lengths[parts[1]] = int(parts[2])
    except OSError:
        pass
    return lengths


def fmt_ns(ns):
    if ns is None:
        return "n/a"
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"


def fmt_ratio(ns, base):
    if ns is None or not base:
        return "n/a"
    return f"{ns / base:.2f}x"


def main_table(criterion):
    impls = []
    for op in OPERATIONS:
        for b in benches_in(criterion, op):
            if b not in impls:
                impls.append(b)
    impls = [n for n in ORDER if n in impls] + [n for n in impls if n not in ORDER]
    data = {(op, i): median_ns(criterion, op, i) for op in OPERATIONS for i in impls}
    lengths = token_lengths(criterion)
    base = {op: data.get((op, "sesame")) for op in OPERATIONS}
    lines = [
        "| implementation | seal (ns) | open (ns) | refresh (ns) | seal / sesame | open / sesame | refresh / sesame | token length |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i in impls:
        row = [f"`{i}`"]
        row += [fmt_ns(data[(op, i)]) for op in OPERATIONS]
        row += [fmt_ratio(data[(op, i)], base[op]) for op in OPERATIONS]
        n = lengths.get(i)
        row.append("n/a" if n is None else (f"{n} (bytes, raw)" if i.startswith("floor") else str(n)))
        lines.append("| " + " | ".join(row) + " |")
    return impls, data, lengths, "\n".join(lines)


def extra_tables(criterion):
    lines = []
    for group in EXTRA_GROUPS:
        benches = benches_in(criterion, group)
        if not benches:
            continue
        lines.append(f"\n`{group}`\n")
        if group == "open_threads":
            # One iteration = one open on each of N threads (threads_N).
            lines.append("| benchmark | median (ns per iteration) | opens per second, all threads |")
            lines.append("|---|---:|---:|")
            for b in benches:
                ns = median_ns(criterion, group, b)
                n = int(b.rsplit("_", 1)[1]) if b.rsplit("_", 1)[-1].isdigit() else 1
                ops = f"{n * 1e9 / ns:,.0f}" if ns else "n/a"
                lines.append(f"| `{b}` | {fmt_ns(ns)} | {ops} |")
            continue
        lines.append("| benchmark | median (ns per iteration) |")
        lines.append("|---|---:|")
        for b in benches:
            lines.append(f"| `{b}` | {fmt_ns(median_ns(criterion, group, b))} |")
    return "\n".join(lines)


def chart(impls, data, lengths, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(OPERATIONS), figsize=(15, 5.2), sharey=True)
    colors = {
        "floor_aes256gcm": "#bbbbbb",
        "floor_aes256gcm_fresh_key": "#a0a0a0",
        "floor_xaes256gcm": "#888888",
        "sesame": "#d62728",
    }
    labels = [f"{i} ({lengths[i]} B)" if i in lengths and not i.startswith("floor") else i for i in impls]
    for ax, op in zip(axes, OPERATIONS):
        values = [data[(op, i)] or 0 for i in impls]
        ys = range(len(impls))
        bars = ax.barh(ys, values, color=[colors.get(i, "#1f77b4") for i in impls])
        ax.set_title(op)
        ax.set_xscale("log")
        ax.set_xlabel("median time per operation (ns, log scale)")
        ax.invert_yaxis()
        ax.grid(axis="x", which="both", alpha=0.3)
        for bar, v in zip(bars, values):
            if v:
                ax.text(v * 1.05, bar.get_y() + bar.get_height() / 2, fmt_ns(v), va="center", fontsize=8)
        ax.set_xlim(right=max(v for v in values if v) * 4 if any(values) else 1)
    axes[0].set_yticks(range(len(impls)))
    axes[0].set_yticklabels(labels)
    fig.suptitle("sesame vs the AEAD floor and peer token formats (criterion medians; token length in brackets)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    fig.savefig(out, dpi=110)
    print(f"wrote {out}", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--criterion",
        action="append",
        help="criterion result directory (default target/criterion); repeat it to "
        "combine several runs of the suite (minimum of the medians)",
    )
    p.add_argument("--out", default="docs/benchmarks.png")
    p.add_argument("--no-chart", action="store_true")
    args = p.parse_args()
    if not args.criterion:
        args.criterion = [os.environ.get("CRITERION_HOME", "target/criterion")]
    impls, data, lengths, table = main_table(args.criterion)
    if not impls:
        sys.exit(f"no criterion results under {', '.join(args.criterion)}: run `cargo bench --bench tokens` first")
    print(table)
    print(extra_tables(args.criterion))
    if len(args.criterion) > 1:
        print(f"\nSpread of the per-run medians over {len(args.criterion)} runs (max / min):\n")
        print("| benchmark | spread |")
        print("|---|---:|")
        for group in OPERATIONS + EXTRA_GROUPS:
            for b in benches_in(args.criterion, group):
                print(f"| `{group}/{b}` | {spread(args.criterion, group, b):.2f} |")
    if not args.no_chart:
        chart(impls, data, lengths, args.out)


if __name__ == "__main__":
    main()
