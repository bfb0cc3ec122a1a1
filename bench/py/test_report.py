"""The make-bench region of docs/BENCHMARKS.md is exactly what report.py renders from
the results file `make bench` keeps beside the plots (docs/bench/results.json): a hand
edit inside the region, or a region spliced from another run, fails.

    .venv/bin/python -m pytest -q bench/py/test_report.py
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "py"))

import report  # noqa: E402


def _region(text: str) -> str:
    m = re.search(re.escape(report.BEGIN) + ".*?" + re.escape(report.END), text, re.S)
    assert m, "docs/BENCHMARKS.md has no make-bench region"
    return m.group(0)


def test_region_is_rendered_from_the_kept_results() -> None:
    region = _region((ROOT / "docs" / "BENCHMARKS.md").read_text())
    res = json.loads((ROOT / "docs" / "bench" / "results.json").read_text())
    # The plots are drawn with matplotlib (not installed here): take their names from
    # the region, and check that each is in docs/bench.
    plots = re.findall(r"!\[[^\]]*\]\(bench/([^)]+)\)", region)
    for p in plots:
        assert (ROOT / "docs" / "bench" / p).is_file(), p
    want = report.render(res, "bench", plots, "make bench")
    assert region == want, "the make-bench region differs from report.py's rendering of docs/bench/results.json"


def test_a_changed_result_changes_the_region() -> None:
    res = json.loads((ROOT / "docs" / "bench" / "results.json").read_text())
    before = report.render(res, "bench", [], "make bench")
    res["started"] = "1999-01-01 00:00:00 UTC" if res.get("started") != "1999-01-01 00:00:00 UTC" else "2000-01-01 00:00:00 UTC"
    assert report.render(res, "bench", [], "make bench") != before


def _rendered_without_and_with(key: str, value: object, where: str = "") -> tuple[str, str]:
    """The kept results rendered with the hardneg index runs' ``key`` (in ``extra`` when
    ``where`` says so) removed, and set to ``value``."""
    res = json.loads((ROOT / "docs" / "bench" / "results.json").read_text())
    runs = [s["index"]["hardneg"] for s in res["sets"].values() if "hardneg" in s.get("index", {})]
    assert runs, "the kept results hold no hardneg index run"
    for r in runs:
        r.pop(where or key, None)
    before = report.render(res, "bench", [], "make bench")
    for r in runs:
        r[where or key] = {key: value} if where else value
    return before, report.render(res, "bench", [], "make bench")


def test_the_wake_up_probe_is_printed_when_recorded() -> None:
    probe = {"p50": 114.3, "p90": 2011.7, "p99": 2060.8, "max": 2954.2, "trials": 300}
    before, after = _rendered_without_and_with("thread_wake_us", probe, where="extra")
    assert "Thread wake-up" not in before
    assert "p50 114 µs, p90 2,012 µs, p99 2,061 µs, max 2,954 µs" in after


def test_builds_in_data_directories_of_their_own_are_said_so() -> None:
    before, after = _rendered_without_and_with("own_data_dirs", True, where="extra")
    assert "a data directory of its own" not in before
    assert "hardneg builds each thread count in a data directory of its own" in after


def test_mining_recall_is_a_table_and_a_target() -> None:
    rows = [{"policy": p, "anchors": 1000, "k": 8, "recall": r, "identical": 0.9, "rank_recall": 0.95, "short_graph": 0, "short_exact": 1}
            for p, r in (("naive", 0.997), ("default", 0.9875), ("all-rules", 0.995))]
    before, after = _rendered_without_and_with("mine_recall", rows)
    assert "Mining recall against exact search" not in before
    assert "| default | 1,000 | 0.9875 | 90.0% | 0.9500 | 0 / 1 |" in after
    # the worst policy decides the verdict
    assert "naive 0.9970, default 0.9875, all-rules 0.9950 over 1,000 anchors | **missed** |" in after


def test_exact_target_compares_batched_with_batched() -> None:
    point = {"ef": 0, "queries": 1000, "us_per_query": 1200.0, "qps": 833.3, "recall": 1.0, "batch": 128}
    before, after = _rendered_without_and_with("exact_batched", point)
    # without hardneg's batched run the verdict is not taken from the one-query-per-call pair
    assert "this run did not time hardneg's batched exact search" in before
    assert "| exact batched scoring ≤ 1.5× faiss IndexFlatIP with all queries in one call | hardneg 1,200 µs/query (1,000 queries, scored in groups of 128 as Mine does)" in after
    res = json.loads((ROOT / "docs" / "bench" / "results.json").read_text())
    faiss = [s["index"]["faiss-flat"]["exact"]["us_per_query"] for s in res["sets"].values() if "faiss-flat" in s.get("index", {})]
    verdicts = re.findall(r"\| exact batched scoring[^\n]*\| \**(met|missed)\** \|", after)
    assert verdicts == ["met" if 1200.0 / f <= 1.5 else "missed" for f in faiss]


def test_offline_rounds_are_printed_and_the_median_decides() -> None:
    res = json.loads((ROOT / "docs" / "bench" / "results.json").read_text())
    off = res["sets"]["synthetic"]["offline"]
    for system, secs in (("hardneg", [2.65, 1.62, 1.70]), ("hardneg-deep", [1.58, 1.52, 1.55]),
                         ("st-faiss", [3.9, 4.1, 3.5]), ("st-torch", [9.8, 10.7, None])):
        r = off[system]
        r["seconds"] = sorted(x for x in secs if x is not None)[(sum(x is not None for x in secs) - 1) // 2]
        r["round_seconds"], r["rounds"] = secs, 3
    out = report.render(res, "bench", [], "make bench")
    assert "every job ran 3 times, the jobs alternating" in out
    assert "| 1.70 | 2.65 / 1.62 / 1.70 |" in out
    assert "| 9.80 | 9.80 / 10.70 / failed |" in out
    # hardneg's median 1.70 s against ST with faiss's 3.90 s
    assert "median of 3 alternating rounds, 1.70 s vs 3.90 s (st-faiss): speed-up 2.29× " in out


def test_index_rounds_are_merged_by_median_and_printed() -> None:
    import run

    res = json.loads((ROOT / "docs" / "bench" / "results.json").read_text())
    idx = res["sets"]["synthetic"]["index"]

    def rounds(base: dict, inserts2: list[float], us128: list[float]) -> list[dict]:
        out = []
        for ins, us in zip(inserts2, us128):
            r = json.loads(json.dumps(base))
            for b in r["build"]:
                if b["threads"] == 2:
                    b["inserts_per_s"] = ins
            for p in r["sweep"]:
                p["us_per_query"] = us if p["ef"] == 128 else p["us_per_query"]
            out.append(r)
        return out

    # hnswlib's median inserts on 2 threads 6,000/s, hardneg's 7,500/s: 1.25×, though one
    # round alone (7,000 against 6,500) would miss; a failed hnswlib round leaves a gap
    hl = rounds(idx["hnswlib"], [6000, 6500, 5000], [250, 240, 260])
    hl[2] = {"error": "killed"}
    hn = rounds(idx["hardneg"], [7500, 7000, 8000], [150, 160, 140])
    idx["hnswlib"], idx["hardneg"] = run.merge_rounds(hl), run.merge_rounds(hn)
    assert [b["inserts_per_s"] for b in idx["hardneg"]["build"] if b["threads"] == 2] == [7500]
    assert [b["inserts_per_s"] for b in idx["hnswlib"]["build"] if b["threads"] == 2] == [6000]  # lower middle of two
    out = report.render(res, "bench", [], "make bench")
    assert "ran 3 times, alternating, each later round starting one system later" in out
    row = [line for line in out.splitlines() if line.startswith("| inserts/s ≥ 1.2× hnswlib (2 threads)")][0]
    assert "7,500 vs 6,000/s: 1.250× (each system's median of 2 alternating rounds; the ratio in each round: 1.25 / 1.08 / —×)" in row
    assert row.endswith("| **met** |")
