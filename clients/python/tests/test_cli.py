"""The ``hardneg`` command against real servers: every command, exit codes and messages,
ingest resume, and backup → restore into a fresh server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import grpc
import numpy as np
import pytest

import hardneg
from hardneg import _cli, errors
from conftest import ServerProcess, _spawn, free_port, unit_rows
from conftest import cli_run as run


def run_json(capsys: pytest.CaptureFixture[str], srv: ServerProcess, *args: str) -> Any:
    code, out, err = run(capsys, srv, "--json", *args)
    assert code == 0, err
    return json.loads(out)


def write_npy(tmp: Path, n: int, dim: int, seed: int = 0) -> tuple[Path, Path, np.ndarray, list[str]]:
    vecs = unit_rows(n, dim, seed)
    ids = [f"doc-{i}" for i in range(n)]
    vp, ip = tmp / "vectors.npy", tmp / "ids.txt"
    np.save(vp, vecs)
    ip.write_text("".join(i + "\n" for i in ids))
    return vp, ip, vecs, ids


@pytest.fixture
def second_server(server_binary: str, tmp_path: Path) -> Iterator[ServerProcess]:
    srv = _spawn(server_binary, tmp_path / "second")
    yield srv
    srv.stop()


def test_create_collections_info(own_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, own_server, "create", "docs", "--dim", "8", "--metric", "l2", "--exact-threshold", "50")
    assert code == 0, err
    assert "exact_threshold: 50" in out
    assert "quantization:    none" in out  # the l2 default
    code, out, _ = run(capsys, own_server, "collections")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DIM", "METRIC", "ITEMS", "SEARCH"]
    assert lines[1].split() == ["docs", "8", "l2", "0", "exact"]
    info = run_json(capsys, own_server, "info", "docs")
    assert (info["name"], info["dim"], info["metric"], info["index_params"]["exact_threshold"]) == ("docs", 8, "l2", 50)
    assert [c["name"] for c in run_json(capsys, own_server, "collections")] == ["docs"]

    code, _, err = run(capsys, own_server, "create", "docs", "--dim", "8")
    assert code == 1 and err.startswith("hardneg create: already exists:") and "docs" in err
    assert err.count("\n") == 1
    assert run(capsys, own_server, "create", "docs", "--dim", "8", "--metric", "l2", "--exact-threshold", "50", "--exist-ok")[0] == 0
    code, _, err = run(capsys, own_server, "info", "nope")
    assert code == 1 and err == 'hardneg info: not found: "nope": collection not found\n'
    code, _, err = run(capsys, own_server, "create", "bad name", "--dim", "8")
    assert code == 1 and err.startswith("hardneg create: invalid argument:") and "name" in err


def test_create_ephemeral(own_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, own_server, "create", "job", "--dim", "8", "--ephemeral")
    assert code == 0, err
    assert "storage:         memory only (ephemeral)" in out
    assert run_json(capsys, own_server, "info", "job")["ephemeral"] is True
    code, out, err = run(capsys, own_server, "create", "kept", "--dim", "8")
    assert code == 0 and "storage:         stored" in out
    code, _, err = run(capsys, own_server, "snapshot", "job")
    assert code == 1 and err.startswith("hardneg snapshot: refused:") and "ephemeral" in err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["bogus"], ["create", "docs"], ["mine"], ["create", "docs", "--dim", "x"]):
        assert _cli.main(argv) == 2, argv
        _, err = capsys.readouterr()
        assert "usage:" in err
    assert _cli.main(["--help"]) == 0
    out, _ = capsys.readouterr()
    for command in ("collections", "create", "info", "ingest", "mine", "snapshot", "backup", "restore", "health", "serve"):
        assert command in out


def test_bad_input_exits_1_with_one_line(own_server: ServerProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vp, ip, _, _ = write_npy(tmp_path, 10, 4)
    (tmp_path / "short.txt").write_text("a\nb\n")
    (tmp_path / "x.csv").write_text("1,2\n")
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2), np.float32))
    cases = [
        (["ingest", "docs", str(tmp_path / "missing.npy"), "--ids", str(ip)], "no such file"),
        (["ingest", "docs", str(vp)], "--ids FILE is required"),
        (["ingest", "docs", str(vp), "--ids", str(tmp_path / "short.txt")], "2 ids for 10 vectors"),
        (["ingest", "docs", str(tmp_path / "x.csv"), "--ids", str(ip)], "unsupported file type"),
        (["ingest", "docs", str(tmp_path / "cube.npy"), "--ids", str(ip)], "expected a 2-d array"),
        (["ingest", "docs", str(vp), "--ids", str(ip)], "not found"),  # no such collection, no --create
        (["mine", "docs"], "no anchors"),
        (["mine", "docs", "--anchor", "a", "--set", "bogus=1"], "MiningPolicy field"),
        (["restore", str(tmp_path / "none.hnb")], "no such file"),
        (["restore", str(ip)], "not a hardneg backup file"),
        (["--tls-ca", str(tmp_path / "ca.pem"), "collections"], "TLS file"),
        (["--tls-cert", str(ip), "collections"], "--tls-cert and --tls-key go together"),
    ]
    for argv, want in cases:
        code, out, err = run(capsys, own_server, *argv)
        assert code == 1, (argv, out, err)
        assert err.startswith(f"hardneg {argv[0] if not argv[0].startswith('--') else argv[2]}: "), err
        assert want in err and err.count("\n") == 1, (argv, err)
    # The collection was not created by the failed ingests.
    assert run_json(capsys, own_server, "collections") == []
    # A snapshot without its collection (nor --list) is a usage error, as a missing
    # argument is (docs/CLI.md); the program's version is a flag.
    code, out, err = run(capsys, own_server, "snapshot")
    assert code == 2 and "hardneg snapshot: error: name the collection to snapshot (or --list)" in err, (out, err)
    assert _cli.main(["--version"]) == 0
    assert capsys.readouterr().out == f"hardneg {hardneg.__version__}\n"


def test_unreachable_server_and_console_script(tmp_path: Path) -> None:
    env = dict(os.environ, HARDNEG_ADDR=f"127.0.0.1:{free_port()}")
    p = subprocess.run([sys.executable, "-m", "hardneg._cli", "--timeout", "5", "collections"], env=env, capture_output=True, text=True)
    assert p.returncode == 1
    assert p.stderr.startswith("hardneg collections: server unavailable:") and p.stderr.count("\n") == 1
    p = subprocess.run([sys.executable, "-m", "hardneg._cli", "nonsense"], capture_output=True, text=True)
    assert p.returncode == 2


def test_health(own_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, own_server, "health")
    assert code == 0 and out == "hardneg.v1.MinerService: SERVING\n"
    assert run_json(capsys, own_server, "health", "--service", "") == {"service": "", "status": "SERVING"}
    code, out, err = run(capsys, own_server, "health", "--service", "no.such.Service")
    assert code == 1 and "not found" in err


def test_ingest_npy_then_rerun_skips_everything(own_server: ServerProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vp, ip, vecs, ids = write_npy(tmp_path, 2500, 16)
    out = run_json(capsys, own_server, "ingest", "docs", str(vp), "--ids", str(ip), "--create", "--batch-size", "300", "--version", "7")
    assert out["rows"] == 2500 and out["skipped_rows"] == 0 and out["batches"] == 9 and out["next_sequence"] == 10
    with hardneg.Client(own_server.target) as c:
        items = c.get_items("docs", ids, include_vectors=True)
        assert list(items.ids) == ids
        np.testing.assert_allclose(items.vectors, vecs, atol=1e-6)  # cosine: renormalised
        assert set(np.asarray(items.versions).tolist()) == {7}
        seq = c.get_collection("docs").stats.last_applied_sequence

        again = run_json(capsys, own_server, "ingest", "docs", str(vp), "--ids", str(ip), "--batch-size", "300", "--version", "7")
        assert again["skipped_rows"] == 2500 and again["sent_rows"] == 0 and again["writer_id"] == out["writer_id"]
        # Nothing was applied again: the collection's last write is the same.
        assert c.get_collection("docs").stats.last_applied_sequence == seq
    # Progress went to stderr, the summary to stdout.
    code, so, se = run(capsys, own_server, "--progress", "ingest", "docs", str(vp), "--ids", str(ip), "--batch-size", "300", "--version", "7")
    assert code == 0 and "2,500 already acknowledged" in so and "ingest docs [" in se
    # --metric must be the existing collection's: nothing is sent otherwise.
    code, so, se = run(capsys, own_server, "ingest", "docs", str(vp), "--ids", str(ip), "--create", "--metric", "dot")
    assert code == 1 and "--metric dot: collection 'docs' exists with metric cosine" in se
    code, so, se = run(capsys, own_server, "ingest", "docs", str(vp), "--ids", str(ip), "--batch-size", "300", "--version", "7",
                       "--metric", "cosine")
    assert code == 0, se


def test_ingest_resumes_after_an_interrupted_run(own_server: ServerProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vp, ip, vecs, ids = write_npy(tmp_path, 2000, 8, seed=3)
    with hardneg.Client(own_server.target) as c:
        c.create_collection("docs", 8)
        # What an interrupted run leaves behind: its first three batches acknowledged.
        rows = _cli.batch_rows(8, 250)
        writer = _cli.writer_id_for("docs", str(vp), rows, _cli.ingest_spec(str(ip), None, None, 0, ids))
        c.ingest("docs", [(ids[k * rows:(k + 1) * rows], vecs[k * rows:(k + 1) * rows]) for k in range(3)], writer_id=writer)
        before = c.get_collection("docs").stats.last_applied_sequence
        out = run_json(capsys, own_server, "ingest", "docs", str(vp), "--ids", str(ip), "--batch-size", "250")
        assert out["writer_id"] == writer
        assert out["skipped_rows"] == 750 and out["sent_rows"] == 1250
        items = c.get_items("docs", ids, include_vectors=True)
        np.testing.assert_allclose(items.vectors, vecs, atol=1e-6)
        # Only the five missing batches were applied (LSNs are per server; nothing else writes).
        assert c.get_collection("docs").stats.last_applied_sequence == before + 5


@pytest.mark.parametrize("how, seed, code, says", [
    ("cut", 4, 1, "(750 of 2,000 rows are durable in 'docs'; the same command run again sends the rest)"),
    ("interrupted", 5, 130, "interrupted (750 of 2,000 rows were acknowledged by 'docs'; the same command run again sends the rest)"),
])
def test_ingest_stopped_part_way_says_how_far_it_got_and_resumes(own_server: ServerProcess, capsys: pytest.CaptureFixture[str],
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                how: str, seed: int, code: int, says: str) -> None:
    # After two batches of the stream were acknowledged, the stream fails for good (cut:
    # the server gone past the client's reconnect timeout) or the user presses Ctrl-C
    # (interrupted): the last line says how many rows got there and that the same command
    # sends the rest, which it then does.
    vp, ip, vecs, ids = write_npy(tmp_path, 2000, 8, seed=seed)
    real = hardneg.Client.ingest
    calls = []

    def stopped(self: hardneg.Client, collection: str, batches: Any, **kw: Any) -> Any:
        calls.append(kw.get("first_sequence"))
        if len(calls) == 1:  # the first batch, sent alone
            return real(self, collection, batches, **kw)
        it = iter(batches)
        got = real(self, collection, [next(it), next(it)], **kw)  # acknowledged, counted by the progress
        if how == "interrupted":
            raise KeyboardInterrupt
        err = hardneg.errors.Unavailable("stream broken and not re-opened within 60 s", code=grpc.StatusCode.UNAVAILABLE)
        err.ingest_result = got  # type: ignore[attr-defined]
        raise err

    monkeypatch.setattr(hardneg.Client, "ingest", stopped)
    argv = ("ingest", "docs", str(vp), "--ids", str(ip), "--batch-size", "250", "--create")
    got_code, _, err = run(capsys, own_server, *argv)
    assert got_code == code and err.rstrip().endswith(says), err
    monkeypatch.setattr(hardneg.Client, "ingest", real)
    out = run_json(capsys, own_server, *argv)
    assert out["skipped_rows"] == 750 and out["sent_rows"] == 1250
    with hardneg.Client(own_server.target) as c:
        assert not c.get_items("docs", ids).missing_ids


def test_ingest_into_a_collection_created_again_sends_everything(
    own_server: ServerProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Writer positions outlive a deleted collection: a re-run into the collection created
    again must not skip rows it no longer holds."""
    vp, ip, vecs, ids = write_npy(tmp_path, 1200, 8, seed=6)
    argv = ("ingest", "docs", str(vp), "--ids", str(ip), "--batch-size", "500", "--create")
    first = run_json(capsys, own_server, *argv)
    assert first["sent_rows"] == 1200
    again = run_json(capsys, own_server, *argv)  # nothing to send: every row is there
    assert again["skipped_rows"] == 1200 and again["writer_id"] == first["writer_id"]
    for _ in range(2):  # twice, so the second round has two earlier writers to pass
        with hardneg.Client(own_server.target) as c:
            c.delete_collection("docs")
        out = run_json(capsys, own_server, *argv)
        assert out["skipped_rows"] == 0 and out["sent_rows"] == 1200 and out["writer_id"] != first["writer_id"]
        with hardneg.Client(own_server.target) as c:
            items = c.get_items("docs", ids, include_vectors=True)
        assert not items.missing_ids
        np.testing.assert_allclose(items.vectors, vecs, atol=1e-6)
    # A writer id given by hand is the caller's: the command says what is wrong instead.
    with hardneg.Client(own_server.target) as c:
        c.delete_collection("docs")
    assert run_json(capsys, own_server, *argv, "--writer-id", "mine")["sent_rows"] == 1200
    with hardneg.Client(own_server.target) as c:
        c.delete_collection("docs")
    code, _, err = run(capsys, own_server, *argv, "--writer-id", "mine")
    assert code == 1 and "1,200 of them are not in 'docs'" in err and "new --writer-id" in err, err
    # With --create the collection this run made is removed again: nothing was applied.
    assert "created by this run, was removed again" in err
    with hardneg.Client(own_server.target) as c:
        assert "docs" not in [x.name for x in c.list_collections()]


def test_ingest_killed_midway_then_rerun(own_server: ServerProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    vp, ip, vecs, ids = write_npy(tmp_path, 40_000, 32, seed=5)
    cmd = [sys.executable, "-m", "hardneg._cli", "--addr", own_server.target, "-q", "ingest", "docs", str(vp), "--ids", str(ip), "--create", "--batch-size", "500"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with hardneg.Client(own_server.target) as c:
        give_up = time.monotonic() + 300  # a bound on the wait, not an assertion on time
        while True:  # wait until the server holds part of the data, then kill the writer
            assert time.monotonic() < give_up, "the ingest never wrote an item"
            try:
                if c.get_collection("docs").stats.item_count > 0:
                    break
            except hardneg.errors.NotFound:
                pass
            assert proc.poll() is None or proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out = run_json(capsys, own_server, "ingest", "docs", str(vp), "--ids", str(ip), "--batch-size", "500")
        assert out["skipped_rows"] > 0 and out["skipped_rows"] + out["sent_rows"] == 40_000
        items = c.get_items("docs", ids, include_vectors=True)
        assert not items.missing_ids
        np.testing.assert_allclose(items.vectors, vecs, atol=1e-6)


def test_ingest_parquet_with_groups(own_server: ServerProcess, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    vecs = unit_rows(300, 4, 9)
    ids = [f"p{i}" for i in range(300)]
    groups = [[f"src{i // 10}"] for i in range(300)]
    pq.write_table(pa.table({"doc_id": ids, "embedding": vecs.tolist(), "src": groups}), tmp_path / "d.parquet")
    out = run_json(capsys, own_server, "ingest", "pq", str(tmp_path / "d.parquet"), "--ids", "doc_id", "--groups", "src", "--create", "--metric", "dot")
    assert out["rows"] == 300
    with hardneg.Client(own_server.target) as c:
        assert c.get_collection("pq").metric == "dot"
        items = c.get_items("pq", ids, include_vectors=True)
        np.testing.assert_array_equal(items.vectors, vecs)
        assert [list(g) for g in items.groups] == groups
    code, _, err = run(capsys, own_server, "ingest", "pq", str(tmp_path / "d.parquet"))
    assert code == 1 and "no column 'id' for --ids" in err


@pytest.mark.parametrize("bad, want", [
    ([""], "group '' must be 1–256 bytes of UTF-8 without NUL"),
    (["x" * 300], "must be 1–256 bytes of UTF-8 without NUL"),
    (["a\x00b"], "group 'a\\x00b' must be 1–256 bytes"),
    ([f"g{j}" for j in range(65)], "has 65 groups; at most 64"),
])
def test_ingest_refuses_bad_groups_before_sending(own_server: ServerProcess, capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path, bad: list[str], want: str) -> None:
    # A group the server would refuse in a later batch is refused before anything is
    # created or sent, naming the file's row: nothing is half-ingested.
    import pyarrow as pa
    import pyarrow.parquet as pq

    groups = [[f"s{i}"] for i in range(3000)]
    groups[2500] = bad
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(3000)], "embedding": unit_rows(3000, 8, 3).tolist(), "source": groups}),
                   tmp_path / "g.parquet")
    code, _, err = run(capsys, own_server, "ingest", "late", str(tmp_path / "g.parquet"), "--groups", "source", "--create")
    assert code == 1 and f"g.parquet: row 2500 of column 'source'" in err and want in err, err
    with hardneg.Client(own_server.target) as c:
        assert "late" not in {x.name for x in c.list_collections()}


def _mined_collection(srv: ServerProcess, name: str = "docs") -> list[str]:
    rng = np.random.default_rng(1)
    vecs = unit_rows(400, 8, 2)
    vecs[11] = vecs[10] + 1e-4 * rng.standard_normal(8).astype(np.float32)  # d10's positive, a near-duplicate
    vecs[201] = vecs[200] + 0.05 * rng.standard_normal(8).astype(np.float32)  # d200's nearest item, in its group
    ids = [f"d{i}" for i in range(400)]
    with hardneg.Client(srv.target) as c:
        c.create_collection(name, 8, index_params=hardneg.IndexParams(exact_threshold=100, m=8, ef_construction=64))
        c.upsert(name, ids, vecs, groups=[[f"g{i // 4}"] for i in range(400)])
    return ids


def test_mine_table_json_and_explain(own_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    _mined_collection(own_server)
    code, out, err = run(capsys, own_server, "mine", "docs", "--anchor", "d10:d11", "--anchor", "d200", "-k", "4")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["ANCHOR", "RANK", "NEGATIVE", "SCORE"] and len(lines) == 9
    assert "candidates not returned" not in out

    res = run_json(capsys, own_server, "mine", "docs", "--anchor", "d10:d11", "--anchor", "d200", "-k", "4", "--explain", "50",
                   "--set", "exclude_same_group=true", "--set", "seed=3", "--set", "max_exposures=none")
    assert len(res["negatives"]) == 8 and [a["returned"] for a in res["anchors"]] == [4, 4]
    rules = {(r["anchor"], r["id"]): r["rule"] for r in res["removed"]}
    assert rules[("d10", "d10")] == "self" and rules[("d10", "d11")] == "positive"
    assert rules[("d200", "d201")] == "same_group"
    returned = {(n["anchor"], n["id"]) for n in res["negatives"]}
    assert not returned & set(rules)

    code, out, _ = run(capsys, own_server, "mine", "docs", "--anchor", "d10:d11", "-k", "4", "--explain")
    assert code == 0 and "candidates not returned" in out
    assert any(line.split()[-1:] == ["positive"] and "d11" in line.split() for line in out.splitlines())

    res = run_json(capsys, own_server, "mine", "docs", "--anchor", "d10", "-k", "4", "--set", 'synthetic={"num_mixed": 2}')
    assert [(x["anchor"], x["kind"]) for x in res["synthetic"]] == [("d10", "mixed"), ("d10", "mixed")]
    assert {x["a"] for x in res["synthetic"]} <= {n["id"] for n in res["negatives"]}
    code, out, _ = run(capsys, own_server, "mine", "docs", "--anchor", "d10", "-k", "4", "--set", 'synthetic={"num_mixed": 2}')
    assert code == 0 and "synthetic negatives (2;" in out

    np.save(Path(own_server.data_dir).parent / "q.npy", unit_rows(2, 8, 7))
    res = run_json(capsys, own_server, "mine", "docs", "--vectors", str(Path(own_server.data_dir).parent / "q.npy"), "-k", "3")
    assert [a["anchor"] for a in res["anchors"]] == ["#0", "#1"] and len(res["negatives"]) == 6


def test_mine_set_values_unknown_positives_and_a_cut_explanation(
    own_server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    _mined_collection(own_server)
    base = ["mine", "docs", "--anchor", "d10:d11", "-k", "3"]
    a = run_json(capsys, own_server, *base, "--set", "exclude_same_group=1", "--set", "max_rank=4294967295")
    b = run_json(capsys, own_server, *base, "--set", "exclude_same_group=yes")
    c = run_json(capsys, own_server, *base, "--set", "exclude_same_group=true")
    assert a["negatives"] == b["negatives"] == c["negatives"] and len(a["negatives"]) == 3
    code, _, err = run(capsys, own_server, *base, "--set", "exclude_same_group=maybe")
    assert code == 1 and "exclude_same_group=maybe: expected true or false" in err

    res = run_json(capsys, own_server, *base, "--set", 'synthetic={"num_mixed": 2}')
    assert len(res["negatives"]) == 3
    code, _, err = run(capsys, own_server, *base, "--set", "synthetic=4")
    assert code == 1 and "expected a JSON object of SyntheticPolicy fields" in err
    for bad, why in (("[1,2]", "got a JSON list"), ('{"num_mix": 2}', "unknown field(s) num_mix")):
        code, _, err = run(capsys, own_server, *base, "--set", f"synthetic={bad}")
        assert code == 1 and "expected a JSON object of SyntheticPolicy fields" in err and why in err, err
        assert "argument after **" not in err

    # -k and --set num_negatives are one setting: the same value is fine, two are refused.
    d = run_json(capsys, own_server, "mine", "docs", "--anchor", "d10:d11", "--set", "num_negatives=3")
    e = run_json(capsys, own_server, *base, "--set", "num_negatives=3")
    assert d["negatives"] == e["negatives"] and len(d["negatives"]) == 3
    code, _, err = run(capsys, own_server, *base, "--set", "num_negatives=5")
    assert code == 1 and "-k 3 and --set num_negatives=5 disagree" in err
    assert len(run_json(capsys, own_server, "mine", "docs", "--anchor", "d10:d11")["negatives"]) == 10

    code, out, err = run(capsys, own_server, "mine", "docs", "--anchor", "d10:d11,nosuch", "-k", "3")
    assert code == 0 and "anchor d10: positive(s) not in 'docs': nosuch" in err

    # The server's policy warnings: one line each naming the command, as errors are.
    for fmt in ((), ("--json",)):
        code, out, err = run(capsys, own_server, *fmt, *base, "--set", "temperature=0.5")
        assert code == 0 and out
        assert err == ("hardneg mine: warning: policy.temperature: has no effect unless sampling is "
                       "SAMPLING_STRATEGY_SOFTMAX\n"), err

    res = run_json(capsys, own_server, *base, "--explain", "1")
    assert res["explain_truncated"] == ["d10"] and len(res["removed"]) <= 1
    code, out, _ = run(capsys, own_server, *base, "--explain", "1")
    assert "more were judged for d10 than --explain 1 lists" in out


def test_snapshot_and_list(own_server: ServerProcess, capsys: pytest.CaptureFixture[str]) -> None:
    _mined_collection(own_server)
    code, out, err = run(capsys, own_server, "snapshot", "docs")
    assert code == 0 and out.startswith("snapshot of 'docs' at sequence "), err
    snaps = run_json(capsys, own_server, "snapshot", "--list")
    assert len(snaps) == 1 and snaps[0]["collection"] == "docs" and snaps[0]["item_count"] == 400 and snaps[0]["bytes"] > 400 * 32
    code, out, _ = run(capsys, own_server, "snapshot", "--list", "docs")
    assert out.splitlines()[0].split() == ["COLLECTION", "SEQUENCE", "ITEMS", "SIZE", "CREATED"]
    assert out.splitlines()[1].split()[:3] == ["docs", str(snaps[0]["sequence"]), "400"]
    code, _, err = run(capsys, own_server, "snapshot", "nope")
    assert code == 1 and "not found" in err


def test_backup_restore_into_a_fresh_server(own_server: ServerProcess, second_server: ServerProcess,
                                            capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _mined_collection(own_server)
    with hardneg.Client(own_server.target) as c:
        c.delete("docs", ids[::9])
        c.report_false_negatives("docs", {"d10": ["d12"]})
        c.create_collection("other", 3, "l2")
        c.upsert("other", ["x", "y"], np.eye(3, dtype=np.float32)[:2], versions=[4, 5])
    live = [i for i in ids if i not in set(ids[::9])]
    f = tmp_path / "all.hnb"
    out = run_json(capsys, own_server, "backup", str(f))
    assert [(b["collection"], b["item_count"]) for b in out["collections"]] == [("docs", len(live)), ("other", 2)]
    assert not (tmp_path / "all.hnb.partial").exists()

    code, out, err = run(capsys, second_server, "restore", str(f))
    assert code == 0, err
    assert out == f"restored 'docs': {len(live):,} items\nrestored 'other': 2 items\n"

    mine = ["mine", "docs", "--anchor", "d10:d11", "--anchor", "d13", "--anchor", "d399:d398", "-k", "6", "--explain", "30",
            "--set", "seed=5", "--set", "sampling_strategy=random"]
    assert run_json(capsys, second_server, *mine) == run_json(capsys, own_server, *mine)
    with hardneg.Client(own_server.target) as a, hardneg.Client(second_server.target) as b:
        for name, want in (("docs", live), ("other", ["x", "y"])):
            x, y = a.get_items(name, want, include_vectors=True), b.get_items(name, want, include_vectors=True)
            assert list(y.ids) == want and not y.missing_ids
            np.testing.assert_array_equal(x.vectors, y.vectors)
            assert [list(g) for g in x.groups] == [list(g) for g in y.groups]
            np.testing.assert_array_equal(x.versions, y.versions)
            assert a.get_collection(name).index_params == b.get_collection(name).index_params

    # One collection under a new name; not onto a collection with items.
    one = tmp_path / "docs.hnb"
    assert run(capsys, own_server, "backup", str(one), "-c", "docs")[0] == 0
    code, out, _ = run(capsys, second_server, "restore", str(one), "-c", "docs-copy")
    assert code == 0 and out == f"restored 'docs-copy': {len(live):,} items\n"
    code, out, _ = run(capsys, second_server, "restore", str(one), "-c", "docs-copy", "--skip-existing")
    assert code == 0 and out == "skipped 'docs-copy': the server holds a collection of that name with items, or an ephemeral one\n"
    code, _, err = run(capsys, second_server, "restore", str(one))
    assert code == 1 and err.startswith("hardneg restore: refused:") and "not empty" in err
    code, _, err = run(capsys, second_server, "restore", str(f), "-c", "x")
    assert code == 1 and "holds 2 collections" in err
    # an empty ephemeral collection is not replaced either; --skip-existing leaves it
    assert run(capsys, second_server, "create", "eph", "--dim", "16", "--ephemeral")[0] == 0
    code, _, err = run(capsys, second_server, "restore", str(one), "-c", "eph")
    assert code == 1 and err.startswith("hardneg restore: refused:") and "ephemeral" in err
    code, out, _ = run(capsys, second_server, "restore", str(one), "-c", "eph", "--skip-existing")
    assert code == 0 and out.startswith("skipped 'eph':")
    assert run(capsys, second_server, "delete", "eph", "--yes")[0] == 0

    # A file of several collections onto a server that holds some of them.
    code, out, err = run(capsys, second_server, "delete", "other")
    assert code == 1 and "would delete 'other' and its 2 items: pass --yes" in err
    assert run(capsys, second_server, "delete", "other", "--yes")[1] == "deleted 'other' (2 items)\n"
    assert run(capsys, second_server, "delete", "other", "--missing-ok")[:2] == (0, "no collection 'other'; nothing deleted\n")
    assert run_json(capsys, second_server, "delete", "other", "--missing-ok") == {"deleted": None, "missing": "other", "items": 0}
    code, out, err = run(capsys, second_server, "restore", str(f))
    assert code == 1 and "not empty" in err and "(0 of 2 collections restored before it; --skip-existing" in err
    code, out, err = run(capsys, second_server, "restore", str(f), "--skip-existing")
    assert code == 0, err
    assert out == "restored 'other': 2 items\nskipped 'docs': the server holds a collection of that name with items, or an ephemeral one\n"
    assert run_json(capsys, second_server, "restore", str(f), "--skip-existing") == {
        "file": str(f), "collections": [], "skipped": ["docs", "other"]}

    # A refusal under --skip-existing (a collection created between the check and the
    # restore) does not suggest the flag already given: the same command again resumes.
    def raced(self: hardneg.Client, *args: Any, **kwargs: Any) -> Any:
        raise hardneg.errors.FailedPrecondition('"docs" holds 3 items', code=grpc.StatusCode.FAILED_PRECONDITION)

    monkeypatch.setattr(hardneg.Client, "restore", raced)
    code, _, err = run(capsys, second_server, "restore", str(f), "--skip-existing")
    assert code == 1 and err.rstrip().endswith("(0 of 2 collections restored before it; the same command run again restores the others, `hardneg delete NAME --yes` removes one)"), err


def test_restore_reads_a_pipe(own_server: ServerProcess, second_server: ServerProcess,
                              capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`cat x.hnb | hardneg restore /dev/stdin` and a named pipe restore like the file
    (they were refused as "no such file"); the names for --skip-existing come from the
    copy, not from the drained pipe. A .npy, memory-mapped, must be a regular file."""
    import threading

    ids = _mined_collection(own_server)
    f = tmp_path / "docs.hnb"
    assert run(capsys, own_server, "backup", str(f), "-c", "docs")[0] == 0
    with open(f, "rb") as stdin:
        p = subprocess.run([sys.executable, "-m", "hardneg._cli", "--addr", second_server.target, "restore", "/dev/stdin",
                            "-c", "piped"], stdin=stdin, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout == f"restored 'piped': {len(ids):,} items\n", p.stderr

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as w:
            w.write(f.read_bytes())

    for expect in ("restored 'docs'", "skipped 'docs'"):
        writer = threading.Thread(target=feed)
        writer.start()
        code, out, err = run(capsys, second_server, "restore", str(fifo), "--skip-existing")
        writer.join(timeout=60)
        assert code == 0 and out.startswith(expect), (out, err)
    with hardneg.Client(second_server.target) as c:
        assert c.get_collection("piped").stats.item_count == c.get_collection("docs").stats.item_count == len(ids)

    # Stopped (SIGTERM) while it copies the pipe: the copy goes with it.
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p2 = subprocess.Popen([sys.executable, "-m", "hardneg._cli", "--addr", second_server.target, "restore", "/dev/stdin",
                           "-c", "stopped"], stdin=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(tmp)})
    assert p2.stdin is not None
    p2.stdin.write(f.read_bytes()[:100_000])
    p2.stdin.flush()
    deadline = time.monotonic() + 30
    while not list(tmp.glob("hardneg-restore-*/backup.hnb")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(tmp.glob("hardneg-restore-*/backup.hnb")), "the copy never started"
    p2.send_signal(signal.SIGTERM)
    assert p2.wait(timeout=30) == 128 + signal.SIGTERM
    p2.stdin.close()
    assert list(tmp.iterdir()) == [], list(tmp.iterdir())

    writer = threading.Thread(target=feed)
    writer.start()
    code, _, err = run(capsys, second_server, "ingest", "x", str(fifo), "--ids", str(f))
    with open(fifo, "rb") as drain:  # the writer waits for a reader
        drain.read()
    writer.join(timeout=60)
    assert code == 1 and "not a regular file" in err, err


def test_output_to_a_closed_pipe_ends_quietly(own_server: ServerProcess) -> None:
    _mined_collection(own_server)
    p = subprocess.Popen([sys.executable, "-m", "hardneg._cli", "--addr", own_server.target, "--json", "mine", "docs",
                          "--anchor", "d10", "-k", "200"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # the reader goes away before anything is written
    err = p.stderr.read()
    assert p.wait(timeout=60) == 141 and err == b"", err


def test_restore_of_a_damaged_file_applies_nothing(own_server: ServerProcess, second_server: ServerProcess,
                                                   capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _mined_collection(own_server)
    good = tmp_path / "b.hnb"
    assert run(capsys, own_server, "backup", str(good), "-c", "docs")[0] == 0
    data = bytearray(good.read_bytes())
    flipped = tmp_path / "flipped.hnb"
    data[len(data) // 2] ^= 0x01
    flipped.write_bytes(bytes(data))
    truncated = tmp_path / "truncated.hnb"
    truncated.write_bytes(good.read_bytes()[: len(data) * 2 // 3])
    code, _, err = run(capsys, second_server, "restore", str(flipped))
    assert code == 1 and err.startswith("hardneg restore: damaged data:") and "checksum mismatch" in err, err
    code, _, err = run(capsys, second_server, "restore", str(truncated))
    assert code == 1 and "truncated" in err, err
    assert run_json(capsys, second_server, "collections") == []
    assert run_json(capsys, second_server, "snapshot", "--list") == []
    # The intact file still restores.
    assert run(capsys, second_server, "restore", str(good))[0] == 0


def test_backup_and_restore_of_a_server_with_no_collection(own_server: ServerProcess, second_server: ServerProcess,
                                                           capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A backup drill on an empty server works both ways and says what happened."""
    path = tmp_path / "empty.hnb"
    code, out, _ = run(capsys, own_server, "backup", str(path))
    assert code == 0 and "holds no collection" in out and f"wrote {path}" in out, out
    code, out, _ = run(capsys, second_server, "restore", str(path))
    assert code == 0 and "nothing restored" in out, out
    assert run_json(capsys, second_server, "collections") == []


def test_backup_needs_a_write_token_from_flag_or_environment(server_binary: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    srv = _spawn(server_binary, tmp_path, ("--auth-tokens=ops:write:w-token-0123456789,viewer:read:r-token-0123456789",))
    try:
        code, _, err = run(capsys, srv, "collections")
        assert code == 1 and err.startswith("hardneg collections: not authenticated (set --token or HARDNEG_TOKEN):")
        monkeypatch.setenv("HARDNEG_TOKEN", "r-token-0123456789")
        assert run(capsys, srv, "collections")[0] == 0
        code, _, err = run(capsys, srv, "backup", str(tmp_path / "b.hnb"))
        assert code == 1 and err.startswith("hardneg backup: permission denied") and not (tmp_path / "b.hnb").exists()
        assert run(capsys, srv, "--token", "w-token-0123456789", "backup", str(tmp_path / "b.hnb"))[0] == 0
    finally:
        srv.stop()


def test_an_empty_token_flag_means_no_token(own_server: ServerProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """OPERATIONS.md's `hardneg --token "$TOKEN" backup …` with TOKEN unset, against a
    server without tokens: an empty --token is no token, as an empty $HARDNEG_TOKEN is."""
    monkeypatch.delenv("HARDNEG_TOKEN", raising=False)
    code, out, err = run(capsys, own_server, "--token", "", "backup", str(tmp_path / "b.hnb"))
    assert code == 0 and (tmp_path / "b.hnb").exists(), err
    assert run(capsys, own_server, "--token", "", "snapshot", "--list")[0] == 0


class TLSServer(ServerProcess):
    """A miner-server with mutual TLS (and a plaintext health probe on its own port)."""

    def __init__(self, binary: str, root: Path, pki: Path) -> None:
        super().__init__(binary, root / "data", root / "server.log", (
            f"--tls-cert-file={pki / 'server.pem'}", f"--tls-key-file={pki / 'server.key'}",
            f"--tls-client-ca-file={pki / 'ca.pem'}", "--health-grpc-addr=127.0.0.1:0",
        ))

    @property
    def target(self) -> str:
        return f"localhost:{self.grpc_port}"


def test_mutual_tls_from_flags_and_environment(server_binary: str, pki: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    srv = TLSServer(server_binary, tmp_path, pki)
    srv.start()
    try:
        code, _, err = run(capsys, srv, "--timeout", "5", "collections")
        assert code == 1 and "server unavailable" in err
        # Without a client certificate: the miner-server ends the connection right after
        # the handshake, and the message says what to give.
        code, _, err = run(capsys, srv, "--timeout", "5", "--tls-ca", str(pki / "ca.pem"), "collections")
        assert code == 1 and "requires client certificates (mutual TLS)" in err and "--tls-cert and --tls-key" in err, err
        tls = ["--tls-ca", str(pki / "ca.pem"), "--tls-cert", str(pki / "client.pem"), "--tls-key", str(pki / "client.key")]
        assert run(capsys, srv, *tls, "health")[0] == 0
        assert run(capsys, srv, *tls, "create", "docs", "--dim", "4")[0] == 0
        monkeypatch.setenv("HARDNEG_TLS_CA", str(pki / "ca.pem"))
        monkeypatch.setenv("HARDNEG_TLS_CERT", str(pki / "client.pem"))
        monkeypatch.setenv("HARDNEG_TLS_KEY", str(pki / "client.key"))
        assert [c["name"] for c in run_json(capsys, srv, "collections")] == ["docs"]
    finally:
        srv.stop()


def test_a_deadline_that_cut_a_retry_short_reports_the_refusal() -> None:
    refusal = errors.Unavailable("failed to connect to all addresses")
    late = errors.DeadlineExceeded("Deadline Exceeded")
    late.attempts = 4
    late.__cause__ = refusal
    line = _cli._error_line(late)
    assert line.startswith("server unavailable: failed to connect to all addresses") and "after 4 attempts" in line
    assert _cli._error_line(errors.DeadlineExceeded("Deadline Exceeded")).startswith("timed out:")


def test_ingest_shrinks_its_batches_to_a_servers_smaller_message_limit(
    server_binary: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1,000 rows of 384 floats make a first batch of about 1.5 MB, over a server's 1 MiB
    # -grpc-max-msg-bytes: refused unread, so the command sends smaller batches and says so.
    srv = _spawn(server_binary, tmp_path / "small", ("--grpc-max-msg-bytes=1048576",))
    try:
        vp, ip, vecs, ids = write_npy(tmp_path, 1000, 384)
        code, out, err = run(capsys, srv, "ingest", "small", str(vp), "--ids", str(ip), "--create")
        assert code == 0, err
        fit = _cli.rows_under(1048576, 384)
        assert f"the server takes messages of at most 1,048,576 bytes: sending {fit:,} rows per batch instead of 1,024" in err
        assert out.startswith("ingested 1,000 rows into 'small'")
        got = hardneg.Client(srv.target).get_items("small", ids, include_vectors=True)
        assert not got.missing_ids and np.allclose(got.vectors, vecs, atol=1e-6)
        # The same command again finds every batch acknowledged (the writer id follows the
        # shrunk batches) and sends nothing.
        code, out, err = run(capsys, srv, "ingest", "small", str(vp), "--ids", str(ip))
        assert code == 0, err
        assert "(1,000 already acknowledged by an earlier run, skipped)" in out
    finally:
        srv.stop()


def test_a_batch_too_large_part_way_names_batch_size_not_the_clients_arguments() -> None:
    # A later batch can outgrow the first (rows with many groups): the client's hint
    # names Client arguments, which the command does not have.
    from hardneg._ingest import SIZE_HINT

    e = errors.ResourceExhausted(
        "server busy or request too large: grpc: received message larger than max (1542940 vs. 1048576)" + SIZE_HINT +
        " 1,048,576 bytes and this client sends batches of up to 16,777,216: give the client "
        "max_batch_bytes=917,504, or max_message_bytes=1,048,576, and resume with writer_id='w', first_sequence=3)")
    assert _cli._too_large(e, 500, 384) == _cli.rows_under(1048576, 384)
    assert e.message == (
        "server busy or request too large: grpc: received message larger than max (1542940 vs. 1048576) (the server "
        f"takes messages of at most 1,048,576 bytes, a batch of 500 rows of 384 floats needs up to {500 * (4 * 384 + 1024):,}: "
        f"pass --batch-size {_cli.rows_under(1048576, 384):,} or less)")
    assert _cli._too_large(errors.Unavailable("gone"), 500, 384) is None
