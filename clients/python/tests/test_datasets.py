"""hardneg.datasets: mining a whole (anchor, positive) dataset into sentence-transformers formats."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

import hardneg
from hardneg.datasets import OUTPUT_FORMATS, build_rows, mine_hard_negatives

DIM = 64

PAIRS = [
    ("how do I read a file in python", "use open() and read() to read a file's contents in python"),
    ("how do I write a file in python", "open the file in write mode and call write() in python"),
    ("how do I delete a file in python", "os.remove deletes a file path in python"),
    ("how do I list a directory in python", "os.listdir returns the names in a directory in python"),
    ("what is a python list", "a list is a mutable ordered sequence in python"),
    ("what is a python tuple", "a tuple is an immutable ordered sequence in python"),
    ("what is a python dict", "a dict maps hashable keys to values in python"),
    ("what is a python set", "a set is an unordered collection of unique elements in python"),
    ("how do I sort a list", "sorted() returns a new sorted list; list.sort sorts in place"),
    ("how do I reverse a list", "reversed() iterates backwards; list.reverse reverses in place"),
    ("what is a python dict", "dict literals use braces with key: value pairs"),  # second positive
    ("how to join strings", "str.join concatenates strings with a separator"),
]
EXTRA_CORPUS = [
    "a python generator yields values lazily",
    "the with statement closes a file automatically",
    "json.dumps serialises an object to a string",
]


def embed(texts: list[str]) -> np.ndarray:
    """Deterministic hashed bag-of-words embedding (no model needed)."""
    out = np.zeros((len(texts), DIM), np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"[a-z]+", t.lower()):
            h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
            out[i, h % DIM] += 1.0 if (h >> 8) & 1 else -1.0
        out[i, len(t) % DIM] += 0.1  # never a zero vector
    return out


def _reference_negatives(k: int) -> dict[str, list[str]]:
    """Brute-force top-k negatives per unique anchor (positives excluded)."""
    anchors: dict[str, list[str]] = {}
    for a, p in PAIRS:
        anchors.setdefault(a, []).append(p)
    corpus = list(dict.fromkeys(EXTRA_CORPUS + [p for _, p in PAIRS]))
    c = embed(corpus)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    out = {}
    for a, ps in anchors.items():
        q = embed([a])[0]
        s = c @ (q / np.linalg.norm(q))
        order = np.argsort(-s, kind="stable")
        out[a] = [corpus[i] for i in order if corpus[i] not in ps][:k]
    return out


def _mine(client: hardneg.Client, **kw: object) -> object:
    kw.setdefault("verbose", False)
    return mine_hard_negatives(
        {"query": [a for a, _ in PAIRS], "answer": [p for _, p in PAIRS]},
        embed,
        corpus=EXTRA_CORPUS,
        client=client,
        **kw,  # type: ignore[arg-type]
    )


def test_triplet_matches_brute_force(client: hardneg.Client) -> None:
    data, report = _mine(client, num_negatives=2, return_report=True)
    assert list(data) == ["query", "answer", "negative"]
    ref = _reference_negatives(2)
    rows = list(zip(data["query"], data["answer"], data["negative"]))
    # One row per (anchor, positive, negative); the dict anchor has two positives.
    assert len(rows) == (len(PAIRS)) * 2
    for a, p, n in rows:
        assert n in ref[a]
        assert (a, n) not in PAIRS
    assert [n for a, p, n in rows if a == PAIRS[0][0]] == ref[PAIRS[0][0]]
    assert report.queries == len(PAIRS) - 1
    assert report.rows == report.rows_possible == len(rows)
    assert 0 < report.rules.positive <= len(PAIRS)  # positives the search met were dropped
    assert report.negative.count == len(rows)
    assert "Positive" in report.format()


def test_concurrent_mine_calls_give_the_same_rows(sync_client: hardneg.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mine called two requests at a time from two threads (and the positives' scores
    computed in several passes) give the rows and scores of one request and one pass; under rotation (whose negatives depend on the order of the requests)
    the requests go one at a time. The job takes a hardneg.Client, whose calls may come
    from several threads."""
    import hardneg.datasets as ds

    workers: list[int] = []
    real = ds.ThreadPoolExecutor

    def recording(max_workers: int, **kw: object) -> object:
        workers.append(max_workers)
        return real(max_workers=max_workers, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ds, "ThreadPoolExecutor", recording)
    whole = _mine(sync_client, num_negatives=2, output_scores=True)
    monkeypatch.setattr(ds, "_PAIR_CHUNK", 2)  # the positives' scores in passes of 2 pairs
    split = _mine(sync_client, num_negatives=2, output_scores=True, mine_batch_size=3)
    assert split == whole
    assert workers == [2, 2]
    _mine(sync_client, num_negatives=2, rotate=True, mine_batch_size=3)
    assert workers[-1] == 1


def test_random_sampling_draws_the_same_however_the_anchors_are_batched(sync_client: hardneg.Client) -> None:
    """Each Mine request of the job says where its anchors sit in the job (anchor_offset),
    so sampling draws by an anchor's place in the job: batches of 3 give the rows of one
    request (before, every batch drew from position 0 again)."""
    kw = dict(num_negatives=2, sampling_strategy="random", range_max=6, seed=5, output_scores=True)
    whole = _mine(sync_client, **kw)
    assert _mine(sync_client, mine_batch_size=3, **kw) == whole


def test_triplet_scores(client: hardneg.Client) -> None:
    data = _mine(client, num_negatives=1, output_scores=True)
    assert list(data) == ["query", "answer", "negative", "scores"]
    for a, p, n, (sp, sn) in zip(data["query"], data["answer"], data["negative"], data["scores"]):
        ea, ep, en = embed([a, p, n])
        cos = lambda u, v: float(u @ v / np.linalg.norm(u) / np.linalg.norm(v))  # noqa: E731
        assert sp == pytest.approx(cos(ea, ep), abs=1e-4)
        assert sn == pytest.approx(cos(ea, en), abs=1e-4)


def test_n_tuple(client: hardneg.Client) -> None:
    data = _mine(client, num_negatives=3, output_format="n-tuple")
    assert list(data) == ["query", "answer", "negative_1", "negative_2", "negative_3"]
    assert len(data["query"]) == len(PAIRS)
    ref = _reference_negatives(3)
    for i, a in enumerate(data["query"]):
        assert [data[f"negative_{j}"][i] for j in (1, 2, 3)] == ref[a]


def test_n_tuple_scores(client: hardneg.Client) -> None:
    data = _mine(client, num_negatives=2, output_format="n-tuple-scores")
    assert list(data) == ["query", "answer", "negative_1", "negative_2", "scores"]
    for s in data["scores"]:
        assert len(s) == 3 and s[1] >= s[2]


def test_labeled_pair(client: hardneg.Client) -> None:
    data = _mine(client, num_negatives=2, output_format="labeled-pair")
    assert list(data) == ["query", "answer", "label"]
    n_anchors = len({a for a, _ in PAIRS})
    assert len(data["label"]) == len(PAIRS) + 2 * n_anchors
    assert sum(data["label"]) == len(PAIRS)
    positives = {(a, p) for a, p in PAIRS}
    for a, d, label in zip(data["query"], data["answer"], data["label"]):
        assert ((a, d) in positives) == (label == 1)
    scored = _mine(client, num_negatives=2, output_format="labeled-pair", output_scores=True)
    assert list(scored) == ["query", "answer", "score"] and all(isinstance(s, float) for s in scored["score"])


def test_labeled_list(client: hardneg.Client) -> None:
    data = _mine(client, num_negatives=2, output_format="labeled-list")
    assert list(data) == ["query", "answer", "labels"]
    assert len(data["query"]) == len(PAIRS)
    ref = _reference_negatives(2)
    for a, docs, labels in zip(data["query"], data["answer"], data["labels"]):
        assert labels == [1, 0, 0]
        assert docs[1:] == ref[a]
    scored = _mine(client, num_negatives=2, output_format="labeled-list", output_scores=True)
    assert list(scored) == ["query", "answer", "scores"]
    assert all(len(s) == 3 for s in scored["scores"])


def test_margin_filters_and_short_rows_are_dropped(client: hardneg.Client) -> None:
    data, report = _mine(
        client, num_negatives=3, output_format="n-tuple", absolute_margin=0.5, return_report=True
    )
    assert report.rules.margin > 0
    assert report.rows <= report.rows_possible
    assert len(data["query"]) == report.rows  # n-tuple rows need all 3 negatives


def test_random_sampling_with_seed_is_reproducible(client: hardneg.Client) -> None:
    kw = dict(num_negatives=2, sampling_strategy="random", range_max=8, seed=7)
    assert _mine(client, **kw) == _mine(client, **kw)


def test_list_of_pairs_input_and_kept_collection(client: hardneg.Client) -> None:
    data = mine_hard_negatives(
        PAIRS, embed, num_negatives=1, verbose=False, collection="kept-mine", keep_collection=True, client=client
    )
    try:
        assert list(data) == ["anchor", "positive", "negative"]
        info = client.get_collection("kept-mine")
        assert info.stats.item_count == len({p for _, p in PAIRS})
        assert info.index_params.exact_threshold == hardneg.EXACT_ONLY  # exact, like ST
    finally:
        client.delete_collection("kept-mine")


def test_graph_search_on_request(client: hardneg.Client) -> None:
    data = mine_hard_negatives(
        PAIRS, embed, num_negatives=1, verbose=False, collection="graph-mine", keep_collection=True, exact=False,
        client=client,
    )
    try:
        assert len(data["negative"]) > 0
        info = client.get_collection("graph-mine")
        assert info.index_params.exact_threshold != hardneg.EXACT_ONLY
    finally:
        client.delete_collection("graph-mine")


def test_build_rows_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="output_format"):
        build_rows([], [], [], [], [], output_format="quadruplet")
    assert "n-tuple-scores" in OUTPUT_FORMATS


@pytest.mark.heavy
def test_returns_datasets_dataset(client: hardneg.Client) -> None:
    from datasets import Dataset

    ds = Dataset.from_dict({"anchor": [a for a, _ in PAIRS], "positive": [p for _, p in PAIRS]})
    out = mine_hard_negatives(ds, embed, num_negatives=1, verbose=False, client=client)
    assert isinstance(out, Dataset)
    assert out.column_names == ["anchor", "positive", "negative"]
    plain = mine_hard_negatives(ds, embed, num_negatives=1, verbose=False, as_dataset=False, client=client)
    assert isinstance(plain, dict) and plain["negative"] == out["negative"]


def test_a_pair_given_twice_is_not_reported_missing(client: hardneg.Client) -> None:
    """A repeated (anchor, positive) pair yields its rows once; the report does not count
    the repeat as rows missing for lack of negatives."""
    twice = PAIRS + PAIRS
    data, report = mine_hard_negatives(
        {"query": [a for a, _ in twice], "answer": [p for _, p in twice]}, embed, corpus=EXTRA_CORPUS,
        client=client, num_negatives=2, output_format="labeled-pair", return_report=True, verbose=False,
    )
    n_anchors = len({a for a, _ in PAIRS})
    assert len(data["label"]) == len(PAIRS) + 2 * n_anchors
    assert report.missing == 0 and report.rows == report.rows_possible, report
    assert "Could not find enough negatives" not in report.format()


def test_flags_take_zero_and_one_and_an_empty_column_name_means_the_first(client: hardneg.Client) -> None:
    """As sentence-transformers reads them: 0/1 for the boolean flags, "" for a column
    name not given."""
    data = _mine(client, num_negatives=2, output_format="n-tuple", output_scores=1, verbose=0, include_positives=0,
                 anchor_column_name="")
    assert list(data) == ["query", "answer", "negative_1", "negative_2", "scores"]
    with pytest.raises(TypeError, match="output_scores must be True or False"):
        _mine(client, num_negatives=2, output_scores=2)


def test_an_absolute_margin_wider_than_the_score_range_leaves_no_rows(client: hardneg.Client) -> None:
    """Under cosine no two scores differ by more than 2: a wider margin removes every
    candidate (as in sentence-transformers) instead of failing after the encoding."""
    for margin in (2.0, 3.0, 1e6):
        data = _mine(client, num_negatives=2, absolute_margin=margin)
        assert len(data["query"]) == 0, margin


def test_a_cross_encoder_depth_beyond_the_limit_names_num_negatives(client: hardneg.Client) -> None:
    class Scorer:
        def predict(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
            return np.zeros(len(pairs), np.float32)

    with pytest.raises(ValueError, match="lower num_negatives or pass a smaller range_max"):
        _mine(client, num_negatives=150, max_score=0.9, cross_encoder=Scorer())
    with pytest.raises(ValueError, match="must be at most 1024 .*; lower range_max"):
        _mine(client, num_negatives=5, range_max=1100, max_score=0.9, cross_encoder=Scorer())


def test_the_shortfall_note_names_what_widens_the_search(client: hardneg.Client) -> None:
    """Short anchors get a note on what would find more: max_candidates=0 where the
    search stopped at sentence-transformers' depth; a larger range_max with a
    cross-encoder, whose pool is that raw top and which max_candidates does not change."""
    class Scorer:
        def predict(self, pairs: list[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
            return np.array([float(len(a) % 7) / 7 for a, _ in pairs], np.float32)

    def note(**kw: object) -> str:
        _, report = mine_hard_negatives(
            {"query": [a for a, _ in PAIRS], "answer": [p for _, p in PAIRS]}, embed, corpus=EXTRA_CORPUS,
            client=client, num_negatives=3, range_max=4, return_report=True, verbose=False, **kw)
        assert report.anchors_short > 0
        return report.format()

    plain = note(relative_margin=0.3)
    assert "(max_candidates=0 lets it search past sentence-transformers' depth)" in plain, plain
    deep = note(relative_margin=0.3, max_candidates=0)
    assert "max_candidates=0 lets" not in deep and "as deep as the server searches" in deep, deep
    for kw in ({}, {"max_candidates": 0}):
        rescored = note(cross_encoder=Scorer(), max_score=0.5, **kw)  # type: ignore[arg-type]
        assert "max_candidates=0 lets" not in rescored, rescored
        assert re.search(r"raw top \d+ \(range_max, or its default, plus room for the positives\), which a larger "
                         r"range_max widens", rescored), rescored
        assert re.search(r"\(the cross-encoder's pool \d+\)", rescored), rescored


@pytest.mark.heavy
def test_dataset_containers_a_user_tries(client: hardneg.Client) -> None:
    """A DatasetDict or a streamed dataset is refused before any encoding, naming what
    to pass; a pandas DataFrame is read like a dict of columns."""
    import pandas as pd
    from datasets import Dataset, DatasetDict

    ds = Dataset.from_dict({"anchor": [a for a, _ in PAIRS], "positive": [p for _, p in PAIRS]})
    with pytest.raises(TypeError, match=r"DatasetDict of the splits \['train'\]: pass one split, e\.g\. dataset\['train'\]"):
        mine_hard_negatives(DatasetDict({"train": ds}), embed, verbose=False, client=client)
    with pytest.raises(TypeError, match="IterableDataset"):
        mine_hard_negatives(ds.to_iterable_dataset(), embed, verbose=False, client=client)
    frame = pd.DataFrame({"anchor": [a for a, _ in PAIRS], "positive": [p for _, p in PAIRS]})
    out = mine_hard_negatives(frame, embed, num_negatives=1, verbose=False, as_dataset=False, client=client)
    plain = mine_hard_negatives(ds, embed, num_negatives=1, verbose=False, as_dataset=False, client=client)
    assert out == plain
