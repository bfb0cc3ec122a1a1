"""hardneg.datasets.mine_hard_negatives as a drop-in for sentence-transformers' function:
signature, argument checks before any work, prompts, include_positives, the deprecated
aliases, the verbose report, the cross-encoder path and the private server. The
comparison against the real sentence-transformers is in test_datasets_compat.py."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
from test_datasets import EXTRA_CORPUS, PAIRS, embed

import hardneg
from hardneg import _server
from hardneg.datasets import ScoreSummary, anchor_key, mine_hard_negatives

# sentence-transformers' mine_hard_negatives parameters (6.2 and 6.3), in order.
ST_PARAMETERS = [
    "dataset", "model", "anchor_column_name", "positive_column_name", "corpus", "cross_encoder", "range_min",
    "range_max", "max_score", "min_score", "absolute_margin", "relative_margin", "num_negatives",
    "sampling_strategy", "query_prompt_name", "query_prompt", "corpus_prompt_name", "corpus_prompt",
    "include_positives", "output_format", "output_scores", "batch_size", "faiss_batch_size", "use_faiss",
    "use_multi_process", "verbose", "cache_folder", "as_triplets", "margin",
]
ST_DEFAULTS = {
    "range_min": 0, "num_negatives": 3, "sampling_strategy": "top", "include_positives": False,
    "output_format": "triplet", "output_scores": False, "batch_size": 32, "faiss_batch_size": 16384,
    "use_faiss": False, "use_multi_process": False, "verbose": True,
}

DATA = {"query": [a for a, _ in PAIRS], "answer": [p for _, p in PAIRS]}


class RecordingModel:
    """A sentence-transformers-like model: encode_query / encode_document record their
    arguments and embed prompt + text with the hashed bag of words."""

    def __init__(self, prompts: dict[str, str] | None = None) -> None:
        self.prompts = dict(prompts or {})
        self.calls: list[tuple[str, list[str], dict[str, Any]]] = []

    def _enc(self, side: str, texts: list[str], prompt_name: str | None = None, prompt: str | None = None,
             **kw: Any) -> np.ndarray:
        self.calls.append((side, list(texts), dict(kw, prompt_name=prompt_name, prompt=prompt)))
        if prompt is None and prompt_name is not None:
            prompt = self.prompts[prompt_name]
        return embed([(prompt or "") + t for t in texts])

    def encode_query(self, texts: list[str], **kw: Any) -> np.ndarray:
        return self._enc("query", texts, **kw)

    def encode_document(self, texts: list[str], **kw: Any) -> np.ndarray:
        return self._enc("document", texts, **kw)

    def encode(self, texts: list[str], **kw: Any) -> np.ndarray:
        return self._enc("plain", texts, **kw)


def test_signature_is_sentence_transformers_then_ours_keyword_only() -> None:
    params = list(inspect.signature(mine_hard_negatives).parameters.values())
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == ST_PARAMETERS
    for name, default in ST_DEFAULTS.items():
        assert inspect.signature(mine_hard_negatives).parameters[name].default == default, name
    keyword_only = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    assert keyword_only[-1] == "client"
    assert params[-1].kind is inspect.Parameter.VAR_KEYWORD  # further MiningPolicy fields


class CrossEncoder:
    """What sentence-transformers' CrossEncoder looks like to the check: it scores pairs
    (predict) and is callable (an nn.Module), but embeds nothing."""

    def predict(self, pairs: Any, batch_size: int = 32) -> Any:
        raise AssertionError("not to be called")

    def __call__(self, *args: Any) -> Any:
        raise AssertionError("not to be called")


@pytest.mark.parametrize("model, match", [
    # str has an encode method of its own: it would be called with the texts.
    ("sentence-transformers/all-MiniLM-L6-v2", r"not a name or path \('sentence-transformers/all-MiniLM-L6-v2'\): "
                                               r"load it first, e.g. SentenceTransformer"),
    (b"all-MiniLM-L6-v2", "not a name or path"),
    (CrossEncoder(), "model is a CrossEncoder, which scores pairs and does not embed texts"),
    (object(), "model must be a sentence-transformers model"),
])
def test_a_model_that_does_not_embed_is_refused_by_name(client: hardneg.Client, model: Any, match: str) -> None:
    before = {c.name for c in client.list_collections()}
    with pytest.raises(TypeError, match=match):
        mine_hard_negatives(DATA, model, verbose=False, client=client)
    assert {c.name for c in client.list_collections()} == before


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"anchor_column_name": "querry"}, ValueError, "not a column"),
        ({"output_format": "quadruplet"}, ValueError, "Invalid output_format"),
        ({"num_negatives": 0}, ValueError, "num_negatives"),
        ({"range_min": -1}, ValueError, "range_min"),
        ({"range_min": 5, "range_max": 5}, ValueError, "range_min must be smaller than range_max"),
        ({"num_negatives": 4, "range_max": 3}, ValueError, "Cannot mine 4 negatives"),
        ({"relative_margin": 1.5}, ValueError, "relative_margin"),
        ({"absolute_margin": -0.1}, ValueError, "absolute_margin"),
        ({"max_score": float("nan")}, ValueError, "max_score"),
        ({"sampling_strategy": "best"}, ValueError, "sampling_strategy"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"faiss_batch_size": 0}, ValueError, "faiss_batch_size"),
        ({"use_multi_process": "yes"}, TypeError, "use_multi_process"),
        ({"query_prompt_name": "query"}, ValueError, "Prompt name 'query' not found"),
        ({"corpus_prompt_name": 3}, TypeError, "corpus_prompt_name"),
        ({"cross_encoder": object(), "max_score": 0.5}, TypeError, "cross_encoder"),
        ({"duplicate_treshold": 0.9}, TypeError, "unknown argument.*duplicate_treshold"),
        ({"temperature": -1.0, "sampling_strategy": "softmax"}, ValueError, "temperature"),
        ({"num_negatives": 3, "diversity_threshold": 0.9, "seed": -1}, ValueError, "seed"),
        ({"mine_batch_size": 2000}, ValueError, "mine_batch_size"),
        ({"metric": "manhattan"}, ValueError, "metric"),
        ({"report_false_negatives": True}, ValueError, "report_false_negatives needs a cross_encoder"),
    ],
)
def test_bad_arguments_fail_before_any_encoding_or_upload(
    client: hardneg.Client, kwargs: dict[str, Any], error: type, match: str
) -> None:
    model = RecordingModel(prompts={"doc": "passage: "})
    before = {c.name for c in client.list_collections()}
    with pytest.raises(error, match=match):
        mine_hard_negatives(DATA, model, verbose=False, client=client, **kwargs)
    assert model.calls == []
    assert {c.name for c in client.list_collections()} == before


@pytest.mark.parametrize(
    "data, kwargs, match",
    [
        # a column named like one the output format adds would be overwritten
        ({"query": DATA["query"], "labels": DATA["answer"]}, {"output_format": "labeled-list"}, "'labels'.*adds"),
        ({"negative_1": DATA["query"], "answer": DATA["answer"]}, {"output_format": "n-tuple"}, "'negative_1'"),
        ({"query": DATA["query"], "scores": DATA["answer"]}, {"output_format": "triplet", "output_scores": True},
         "'scores'.*with output_scores"),
        # more distinct positives for one anchor than the server takes
        ({"query": ["q"] * 1025, "answer": [f"p{i}" for i in range(1025)]}, {}, "1,025 distinct positives.*at most 1,024"),
    ],
)
def test_bad_datasets_fail_before_any_encoding_or_upload(
    client: hardneg.Client, data: dict[str, list[str]], kwargs: dict[str, Any], match: str
) -> None:
    model = RecordingModel()
    before = {c.name for c in client.list_collections()}
    with pytest.raises(ValueError, match=match):
        mine_hard_negatives(data, model, verbose=False, client=client, **kwargs)
    assert model.calls == []
    assert {c.name for c in client.list_collections()} == before


def test_empty_dataset_has_a_clear_message(client: hardneg.Client) -> None:
    model = RecordingModel()
    for empty in ({"anchor": [], "positive": []}, [], {}):
        with pytest.raises(ValueError, match="^The dataset is empty. Please provide a non-empty dataset.$"):
            mine_hard_negatives(empty, model, client=client)
    assert model.calls == []


def test_positional_call_like_sentence_transformers(client: hardneg.Client) -> None:
    # mine_hard_negatives(dataset, model, anchor_column_name, positive_column_name, corpus, ...)
    data = mine_hard_negatives(DATA, embed, "query", "answer", EXTRA_CORPUS, None, 0, None, None, None, None, None, 2,
                               verbose=False, client=client)
    assert list(data) == ["query", "answer", "negative"]
    assert len(data["negative"]) == 2 * len(PAIRS)


def test_prompts_reach_encode_query_and_encode_document(client: hardneg.Client) -> None:
    model = RecordingModel(prompts={"q": "query: ", "d": "passage: "})
    mine_hard_negatives(DATA, model, query_prompt_name="q", corpus_prompt="doc: ", corpus_prompt_name="d",
                        batch_size=7, verbose=False, num_negatives=1, client=client)
    sides = [c[0] for c in model.calls]
    assert sides == ["document", "query"]  # corpus first, as sentence-transformers does
    doc_kw, query_kw = model.calls[0][2], model.calls[1][2]
    assert doc_kw["prompt"] == "doc: " and doc_kw["prompt_name"] == "d"
    assert query_kw["prompt"] is None and query_kw["prompt_name"] == "q"
    for kw in (doc_kw, query_kw):
        assert kw["batch_size"] == 7 and kw["normalize_embeddings"] is True and kw["convert_to_numpy"] is True
    assert model.calls[1][1] == list(dict.fromkeys(DATA["query"]))  # unique queries


def test_prompts_change_the_result_like_the_model_sees_them(client: hardneg.Client) -> None:
    seen: list[list[str]] = []

    def fn(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return embed(texts)

    mine_hard_negatives(DATA, fn, query_prompt="how: ", corpus_prompt="doc: ", num_negatives=1, verbose=False,
                        client=client)
    assert all(t.startswith("doc: ") for t in seen[0]) and all(t.startswith("how: ") for t in seen[1])


def test_include_positives_keeps_positives_as_candidates(client: hardneg.Client) -> None:
    data = mine_hard_negatives(DATA, embed, include_positives=True, num_negatives=3, verbose=False, client=client)
    assert list(data) == ["query", "answer", "negative_1", "negative_2", "negative_3"]  # forced n-tuple
    positives = {(a, p) for a, p in PAIRS}
    hits = sum((a, data[f"negative_{i}"][r]) in positives for r, a in enumerate(data["query"]) for i in (1, 2, 3))
    assert hits >= len({a for a, _ in PAIRS}) // 2  # each query's own positive ranks near the top
    plain = mine_hard_negatives(DATA, embed, output_format="n-tuple", num_negatives=3, verbose=False, client=client)
    assert not any((a, plain[f"negative_{i}"][r]) in positives
                   for r, a in enumerate(plain["query"]) for i in (1, 2, 3))


def test_deprecated_aliases_behave_as_in_sentence_transformers(client: hardneg.Client,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    kw: dict[str, Any] = dict(verbose=False, client=client, num_negatives=2)
    with caplog.at_level("WARNING"):
        old = mine_hard_negatives(DATA, embed, margin=0.05, **kw)
    assert "`margin` parameter is deprecated" in caplog.text
    assert old == mine_hard_negatives(DATA, embed, absolute_margin=0.05, **kw)
    as_n_tuple = mine_hard_negatives(DATA, embed, as_triplets=False, **kw)
    assert list(as_n_tuple) == ["query", "answer", "negative_1", "negative_2"]
    legacy = mine_hard_negatives(DATA, embed, output_format="n-tuple-scores", **kw)
    assert list(legacy) == ["query", "answer", "negative_1", "negative_2", "scores"]


def test_no_op_parameters_are_accepted(client: hardneg.Client, tmp_path: Path) -> None:
    kw: dict[str, Any] = dict(verbose=False, client=client, num_negatives=2)
    base = mine_hard_negatives(DATA, embed, **kw)
    same = mine_hard_negatives(DATA, embed, use_faiss=True, faiss_batch_size=8, use_multi_process=["cpu", "cpu"],
                               cache_folder=str(tmp_path), **kw)
    assert same == base


def test_score_summary_is_computed_like_torch() -> None:
    s = ScoreSummary.of([0.1, 0.4, 0.2, 0.3])
    assert s.median == 0.2  # torch.median: the lower of the two middle values
    assert s.std == pytest.approx(np.std([0.1, 0.4, 0.2, 0.3], ddof=1))  # torch.std: n − 1
    assert (s.q25, s.q50, s.q75) == pytest.approx((0.175, 0.25, 0.325))  # torch.quantile, linear
    empty = ScoreSummary.of([])
    assert empty.count == 0 and empty.min == float("inf") and empty.max == float("-inf")


def test_verbose_report(client: hardneg.Client, capsys: pytest.CaptureFixture[str]) -> None:
    _, report = mine_hard_negatives(DATA, embed, corpus=EXTRA_CORPUS, num_negatives=2, return_report=True,
                                    client=client)
    out = capsys.readouterr().out
    n_unique = len({a for a, _ in PAIRS})
    assert "Setting range_max to 4 based on the provided parameters." in out  # 0 + 2 + 2 positives
    assert f"Found {n_unique} unique queries out of {len(PAIRS)} total queries." in out
    assert "Found an average of 1.091 positives per query." in out  # 12 rows / 11 queries
    for label in ("Metric", "Count", "Mean", "Median", "Std", "Min", "25%", "50%", "75%", "Max"):
        assert re.search(rf"^{re.escape(label)}\s", out, re.M), label
    assert re.search(rf"^Count\s+{len(PAIRS)}\s+{2 * len(PAIRS)}\s*$", out, re.M)
    assert "Removed" in out and "by the positive rule" in out
    assert report.rows == report.rows_possible and "Could not find" not in out


def test_shortfall_is_worded_like_sentence_transformers(client: hardneg.Client,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    data, report = mine_hard_negatives(DATA, embed, corpus=EXTRA_CORPUS, num_negatives=3, max_score=0.2,
                                       output_format="n-tuple", return_report=True, client=client)
    out = capsys.readouterr().out
    assert report.rows < report.rows_possible == len(PAIRS)
    missing = report.rows_possible - report.rows
    assert (f"Could not find enough negatives for {missing} samples ({missing / len(PAIRS):.2%}). Consider adjusting "
            "the range_max and max_score parameters if you'd like to find more valid negatives.") in out
    assert f"{report.anchors_short} of {report.queries} anchors got fewer than 3 negatives" in out
    assert len(data["query"]) == report.rows


class KeywordCrossEncoder:
    """A cross-encoder stand-in: the share of the query's words found in the passage."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, pairs: list[tuple[str, str]], batch_size: int = 32, **kw: Any) -> np.ndarray:
        self.calls += 1
        out = []
        for q, p in pairs:
            qw, pw = set(re.findall(r"[a-z]+", q.lower())), set(re.findall(r"[a-z]+", p.lower()))
            out.append(len(qw & pw) / max(len(qw), 1))
        return np.array(out, dtype=np.float32)


@pytest.mark.parametrize("margin_", [0.1, None])
def test_cross_encoder_rescoring_matches_a_brute_force_reference(client: hardneg.Client, margin_: Optional[float]) -> None:
    # With a filter or without one, the cross-encoder scores the pool and orders it (as
    # sentence-transformers 6.3 does: before, it was unused without a filter).
    ce = KeywordCrossEncoder()
    k, rng_max = 2, 6
    data = mine_hard_negatives(DATA, embed, corpus=EXTRA_CORPUS, cross_encoder=ce, absolute_margin=margin_,
                               range_max=rng_max, num_negatives=k, output_format="n-tuple", output_scores=True,
                               verbose=False, client=client)
    assert ce.calls == 1 + len({a for a, _ in PAIRS})  # positives once, then one call per query
    corpus = list(dict.fromkeys(EXTRA_CORPUS + DATA["answer"]))
    c = embed(corpus)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    pos: dict[str, list[str]] = {}
    for a, p in PAIRS:
        pos.setdefault(a, []).append(p)
    depth = rng_max + max(len(v) for v in pos.values()) + 1
    expected_rows = 0
    for a, ps in pos.items():
        q = embed([a])[0]
        order = np.argsort(-(c @ (q / np.linalg.norm(q))), kind="stable")[:depth]
        cands = [corpus[i] for i in order if corpus[i] not in ps and corpus[i] != a]
        s_pos = min(ce.predict([(a, p) for p in ps]))
        ce_s = ce.predict([(a, t) for t in cands])
        keep = [(t, s) for t, s in zip(cands, ce_s) if margin_ is None or not s + margin_ > s_pos]
        keep.sort(key=lambda ts: -ts[1])
        window = keep[:rng_max][:k]
        if len(window) < k:
            assert a not in data["query"]
            continue
        expected_rows += len(ps)
        r = data["query"].index(a)
        got_scores = data["scores"][r][1:]
        assert got_scores == pytest.approx([s for _, s in window])  # cross-encoder scores, best first
        assert data["scores"][r][0] == pytest.approx(ce.predict([(a, data["answer"][r])])[0])
    assert len(data["query"]) == expected_rows


def test_cross_encoder_verdicts_become_feedback(client: hardneg.Client) -> None:
    ce = KeywordCrossEncoder()
    name = "ce-feedback"
    try:
        _, report = mine_hard_negatives(DATA, embed, corpus=EXTRA_CORPUS, cross_encoder=ce, max_score=0.3,
                                        num_negatives=2, verbose=False, collection=name, keep_collection=True,
                                        report_false_negatives=True, return_report=True, client=client)
        assert report.skipped["max_score"][0] > 0
        assert report.false_negatives_reported == report.skipped["max_score"][0]
        # The verdicts apply to later Mine calls on the kept collection under anchor_key(query).
        corpus = list(dict.fromkeys(EXTRA_CORPUS + DATA["answer"]))
        a = PAIRS[0][0]
        q = embed([a])
        removed = [t for t in corpus if ce.predict([(a, t)])[0] > 0.3 and t != PAIRS[0][1]]
        res = client.mine(name, anchor_vectors=q, keys=[anchor_key(a)], positive_ids=[[str(corpus.index(PAIRS[0][1]))]],
                          num_negatives=len(corpus) - 1 - len(removed), max_candidates=0, in_batch_exclusion=False)
        got = {corpus[int(i)] for i in res.ids[0, : int(res.counts[0])]}
        assert removed and not (got & set(removed))
        assert int(res.removed["feedback"][0]) == len(removed)
    finally:
        client.delete_collection(name, missing_ok=True)


def test_without_a_client_a_private_server_runs_for_the_call(
    client: hardneg.Client, server_binary: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_server.BINARY_ENV, server_binary)
    started: list[_server.LocalServer] = []
    real_start = _server.LocalServer.start

    def spy(self: _server.LocalServer) -> _server.LocalServer:
        started.append(self)
        return real_start(self)

    monkeypatch.setattr(_server.LocalServer, "start", spy)
    data = mine_hard_negatives(DATA, embed, num_negatives=2, verbose=False)
    assert data == mine_hard_negatives(DATA, embed, num_negatives=2, verbose=False, client=client)
    (srv,) = started
    assert srv.proc is not None and srv.proc.poll() is not None  # stopped
    assert srv.data_dir is not None and not os.path.exists(srv.data_dir)  # temporary directory removed


def test_without_a_client_or_binary_the_error_comes_before_encoding(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    monkeypatch.delenv(_server.BINARY_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_server, "bundled_binary", lambda: None)
    model = RecordingModel()
    with pytest.raises(_server.ServerNotFound, match="client=hardneg.Client"):
        mine_hard_negatives(DATA, model, verbose=False)
    assert model.calls == []


def test_an_anchor_never_gets_its_own_text(client: hardneg.Client) -> None:
    # Every query is also a corpus document, and the stand-in model embeds a text the
    # same way as query and as document, so its own text is each anchor's best candidate
    # (score 1). sentence-transformers 6.3 leaves it out, and so does mine_hard_negatives.
    corpus = EXTRA_CORPUS + DATA["query"]
    c = embed(corpus)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    for a in DATA["query"]:
        q = embed([a])[0]
        assert corpus[int(np.argmax(c @ (q / np.linalg.norm(q))))] == a
    for kw in ({}, {"cross_encoder": KeywordCrossEncoder()}):
        data = mine_hard_negatives(DATA, embed, corpus=corpus, num_negatives=3, output_format="n-tuple",
                                   verbose=False, client=client, **kw)
        assert data["query"]
        for r, a in enumerate(data["query"]):
            negatives = [data[f"negative_{i}"][r] for i in range(1, 4)]
            assert a not in negatives, (kw, a, negatives)


def test_an_anchor_with_hundreds_of_positives_gets_its_negatives(client: hardneg.Client) -> None:
    # 250 positives of one anchor, every one closer to it than any corpus text, and an
    # explicit range_max=5: sentence-transformers searches the raw top range_max + 250 + 1
    # and mines a row per pair; so must the drop-in, not stop at the server's default
    # hardness floor (rank 200) with nothing for that anchor.
    rng = np.random.default_rng(3)
    dim = 16
    topic = np.eye(dim, dtype=np.float32)[0]
    vecs: dict[str, np.ndarray] = {"topic": topic, "other": np.eye(dim, dtype=np.float32)[1],
                                   "other-pos": np.eye(dim, dtype=np.float32)[1] + 0.1}
    positives = [f"topic-pos{k}" for k in range(250)]
    for p in positives:
        vecs[p] = topic + 0.2 * rng.standard_normal(dim).astype(np.float32)
    corpus = [f"c{j}" for j in range(300)]
    for c in corpus:
        vecs[c] = rng.standard_normal(dim).astype(np.float32)

    def model(texts: list[str], **kw: Any) -> np.ndarray:
        return np.stack([vecs[t] for t in texts])

    data = {"anchor": ["topic"] * len(positives) + ["other"], "positive": positives + ["other-pos"]}
    out = mine_hard_negatives(data, model, corpus=corpus, range_max=5, num_negatives=3, output_format="labeled-list",
                              verbose=False, client=client)
    assert sum(a == "topic" for a in out["anchor"]) == len(positives)
    assert all(labels == [1, 0, 0, 0] for labels in out["labels"])  # the positive and 3 negatives per row


def test_bounds_given_as_zero_dimensional_arrays_are_their_numbers(client: hardneg.Client) -> None:
    # sentence-transformers compares scores with whatever it is given: a 0-d numpy array or
    # torch tensor works as its number; so it does here.
    kw: dict[str, Any] = dict(num_negatives=2, output_format="n-tuple", verbose=False, client=client)
    plain = mine_hard_negatives(DATA, embed, max_score=0.9, relative_margin=0.05, **kw)
    arrays = mine_hard_negatives(DATA, embed, max_score=np.array(0.9), relative_margin=np.float32(0.05), **kw)
    assert arrays == plain
    with pytest.raises(TypeError, match="max_score"):
        mine_hard_negatives(DATA, embed, max_score=np.array([0.9]), **kw)


def test_a_failed_cleanup_never_hides_the_jobs_own_error(
    sync_client: hardneg.Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # On a caller's server the job deletes its collection at the end. That delete failing
    # is the error when the job went well, and only logged when another error is on its
    # way out.
    def no_delete(name: str, missing_ok: bool = False) -> None:
        raise hardneg.errors.Unavailable("gone")

    def no_mine(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("mining failed")

    before = {c.name for c in sync_client.list_collections()}
    delete = sync_client.delete_collection
    monkeypatch.setattr(sync_client, "delete_collection", no_delete)
    with pytest.raises(hardneg.errors.Unavailable, match="gone"):
        mine_hard_negatives(DATA, RecordingModel(), verbose=False, client=sync_client)
    monkeypatch.setattr(sync_client, "mine", no_mine)
    with caplog.at_level("WARNING", logger="hardneg.datasets"), pytest.raises(RuntimeError, match="mining failed"):
        mine_hard_negatives(DATA, RecordingModel(), verbose=False, client=sync_client)
    assert "could not delete the job's collection" in caplog.text
    for c in sync_client.list_collections():  # what the failed deletes left
        if c.name not in before:
            delete(c.name)
