"""hardneg.datasets.mine_hard_negatives with the bad inputs a sentence-transformers user
passes: malformed datasets, text columns holding other things, one column named twice,
scores outside the metric's range, and models that return something other than a
finite (n, dim) array of real numbers.

Each fails with a ValueError or TypeError naming the problem before anything is
uploaded (a collection named by ``collection=`` keeps its items), with sentence-
transformers 6.2's exception type where it raises one (noted per case); where it
silently mines garbage (a ragged dict of columns, a string as a column, zero or NaN
embeddings), hardneg raises instead. Both clients run every case (``client`` fixture).
"""

from __future__ import annotations

import uuid
from typing import Any, Callable

import numpy as np
import pytest
from test_datasets import PAIRS, embed

import hardneg
from hardneg.datasets import mine_hard_negatives

ANCHORS = [a for a, _ in PAIRS]
POSITIVES = [p for _, p in PAIRS]
DATA = {"query": ANCHORS, "answer": POSITIVES}


class CountingModel:
    """A callable model that counts its calls (embeds with the hashed bag of words)."""

    def __init__(self, transform: Callable[[np.ndarray], Any] = lambda v: v) -> None:
        self.calls = 0
        self.transform = transform

    def __call__(self, texts: list[str]) -> Any:
        self.calls += 1
        return self.transform(embed(texts))


def _names(client: hardneg.Client) -> set[str]:
    return {c.name for c in client.list_collections()}


# (dataset, mine_hard_negatives arguments, error, message); sentence-transformers 6.2's
# behaviour in the comment.
BAD_DATASETS = [
    # ST: ValueError "Unsupported input type: NoneType" from the encoder.
    pytest.param({"query": ANCHORS[:-1] + [None], "answer": POSITIVES}, {}, ValueError,
                 r"column 'query' must hold strings; row 11 is NoneType None", id="none-anchor"),
    pytest.param({"query": ANCHORS, "answer": [None] + POSITIVES[1:]}, {}, ValueError,
                 r"column 'answer' must hold strings; row 0 is NoneType", id="none-positive"),
    # ST: ValueError "Unsupported input type: int".
    pytest.param({"query": list(range(len(ANCHORS))), "answer": POSITIVES}, {}, ValueError,
                 r"column 'query' must hold strings; row 0 is int 0", id="int-anchor"),
    pytest.param({"query": ANCHORS, "answer": [float("nan")] * len(ANCHORS)}, {}, ValueError,
                 r"column 'answer' must hold strings; row 0 is float nan", id="nan-positive"),
    pytest.param({"query": ANCHORS, "answer": [b"bytes"] * len(ANCHORS)}, {}, ValueError,
                 r"column 'answer' must hold strings; row 0 is bytes", id="bytes-positive"),
    # ST: TypeError "unhashable type: 'list'".
    pytest.param({"query": ANCHORS, "answer": [[p] for p in POSITIVES]}, {}, TypeError,
                 r"column 'answer' must hold strings; row 0 is list", id="list-positive"),
    # ST: KeyError 'query' after renaming the columns.
    pytest.param(DATA, {"anchor_column_name": "query", "positive_column_name": "query"}, ValueError,
                 r"both name the column 'query'", id="same-column-twice"),
    pytest.param(DATA, {"anchor_column_name": "answer"}, ValueError,
                 r"both name the column 'answer'", id="anchor-is-the-default-positive"),
    # ST silently falls back to the first/second column.
    pytest.param(DATA, {"positive_column_name": "positive"}, ValueError,
                 r"positive_column_name='positive' is not a column of the dataset; its columns are \['query', 'answer'\]",
                 id="misnamed-positive-column"),
    pytest.param({"anchor": ANCHORS, "positive": POSITIVES}, {"anchor_column_name": "Anchor"}, ValueError,
                 r"anchor_column_name='Anchor' is not a column", id="case-of-column-name"),
    # ST: ValueError (two columns needed).
    pytest.param({"query": ANCHORS}, {}, ValueError, r"at least two columns", id="one-column"),
    # Dicts of columns and lists of rows (ST takes only a datasets.Dataset: AttributeError).
    pytest.param({"query": ANCHORS, "answer": POSITIVES[:-2]}, {}, ValueError,
                 r"columns must have one length, got 'query': 12, 'answer': 10", id="ragged-columns"),
    pytest.param({"query": "what is a list", "answer": "a sequence"}, {}, TypeError,
                 r"dataset column 'query' must be a list of values, got str", id="string-as-column"),
    pytest.param({"query": 3, "answer": 4}, {}, TypeError, r"dataset column 'query' must be a list of values, got int",
                 id="number-as-column"),
    pytest.param([{"query": "a", "answer": "b"}, {"query": "c"}], {}, ValueError,
                 r"dataset row 1 has no 'answer'", id="row-missing-a-key"),
    pytest.param([{"query": "a", "answer": "b"}, {"anchor": "c", "positive": "d"}], {}, ValueError,
                 r"dataset row 1 has no 'query', 'answer'", id="rows-with-other-keys"),
    pytest.param([{"query": "a", "answer": "b"}, ("c", "d")], {}, TypeError, r"dataset row 1 is a tuple",
                 id="dict-then-tuple"),
    pytest.param([("a", "b"), ("c",)], {}, ValueError, r"dataset row 1 has 1 value\(s\); rows given as tuples or lists must be \(anchor, positive\) pairs",
                 id="pair-of-one"),
    pytest.param([("a", "b", "n"), ("c", "d")], {}, ValueError, r"dataset row 0 has 3 value\(s\); rows given as tuples",
                 id="triplet-rows"),
    pytest.param([("a", "b"), "cd"], {}, ValueError, r"dataset row 1 has a str", id="pair-then-string"),
    pytest.param(["a", "b"], {}, TypeError, r"dataset must be a datasets.Dataset", id="list-of-strings"),
    pytest.param("anchor,positive", {}, TypeError, r"dataset must be a datasets.Dataset", id="string-dataset"),
    pytest.param(None, {}, TypeError, r"dataset must be a datasets.Dataset", id="none-dataset"),
    # ST raises ValueError for the empty dataset and mines nothing from one row.
    pytest.param({"query": [], "answer": []}, {}, ValueError, r"^The dataset is empty", id="empty"),
]


@pytest.mark.parametrize("dataset, kwargs, error, match", BAD_DATASETS)
def test_bad_dataset_fails_before_encoding_or_upload(
    client: hardneg.Client, dataset: Any, kwargs: dict[str, Any], error: type, match: str
) -> None:
    model = CountingModel()
    before = _names(client)
    with pytest.raises(error, match=match):
        mine_hard_negatives(dataset, model, verbose=False, client=client, **kwargs)
    assert model.calls == 0
    assert _names(client) == before


BAD_SCORES = [
    # ST accepts them and filters nothing (cosine) or everything (l2); the server
    # rejects them, so they fail here before the upload.
    pytest.param({"max_score": 2.0}, r"max_score=2.0 is outside the scores metric='cosine' gives", id="cosine-max-2"),
    pytest.param({"min_score": -1.5}, r"min_score=-1.5 is outside the scores metric='cosine' gives", id="cosine-min"),
    pytest.param({"max_score": 0.5, "metric": "l2"}, r"max_score=0.5 is outside the scores metric='l2' gives",
                 id="l2-positive-max"),
    # ST: no error (NaN compares false: nothing filtered) or 0 rows.
    pytest.param({"min_score": float("nan")}, r"min_score must be a finite number", id="min-nan"),
    pytest.param({"max_score": float("-inf")}, r"max_score must be a finite number", id="max-minus-inf"),
    pytest.param({"min_score": float("inf")}, r"min_score must be a finite number", id="min-inf"),
    pytest.param({"absolute_margin": float("inf")}, r"absolute_margin must be a finite number", id="margin-inf"),
    pytest.param({"relative_margin": float("nan")}, r"relative_margin must be a finite number", id="rel-margin-nan"),
    pytest.param({"margin": -0.5}, r"margin must be ≥ 0.0", id="deprecated-margin-negative"),
    # ST: mines 0 rows.
    pytest.param({"min_score": 0.9, "max_score": 0.1}, r"min_score 0.9 is above max_score 0.1", id="min-above-max"),
    # ST: 870 rows from a 30-row set (num_negatives beyond the corpus).
    pytest.param({"num_negatives": 10**6}, r"num_negatives must be an integer 1–1,024, got 1000000", id="num-negatives-huge"),
    pytest.param({"range_min": 3, "range_max": 2}, r"range_min must be smaller than range_max", id="range-reversed"),
    pytest.param({"range_max": -1}, r"range_max must be an integer 1–1,048,576", id="range-max-negative"),
    pytest.param({"output_format": "triplets"}, r"Invalid output_format: triplets", id="output-format-plural"),
    pytest.param({"output_format": None}, r"Invalid output_format: None", id="output-format-none"),
    # hardneg's own policy keywords: their range is the metric's, checked before encoding
    # (the server would refuse them only once the corpus was encoded and uploaded).
    pytest.param({"diversity_threshold": 5.0}, r"diversity_threshold=5.0 is outside the scores metric='cosine' gives",
                 id="diversity-outside-cosine"),
    pytest.param({"duplicate_threshold": -3.0}, r"duplicate_threshold=-3.0 is outside the scores metric='cosine'",
                 id="duplicate-outside-cosine"),
    pytest.param({"duplicate_threshold": 0.5, "metric": "l2"}, r"duplicate_threshold=0.5 is outside the scores metric='l2'",
                 id="duplicate-positive-l2"),
    pytest.param({"duplicate_margin": 5.0}, r"duplicate_margin=5.0 is wider than the scores metric='cosine' gives",
                 id="duplicate-margin-wide"),
    pytest.param({"pfn_threshold": 2.0}, r"^invalid mining policy: pfn_threshold: must be in \[0, 1\], got 2.0$",
                 id="pfn-threshold-above-1"),
    pytest.param({"duplicate_quantile": 2.0, "max_staleness": -1},
                 r"^invalid mining policy: max_staleness: must be .*; duplicate_quantile: must be in \[0, 1\], got 2.0$",
                 id="two-policy-fields-one-prefix"),
    pytest.param({"guide_collection": "no-such-guide"}, r"guide_collection='no-such-guide' does not exist on the server",
                 id="guide-missing"),
    # Names and cross-field rules the server checks: checked here too, before the
    # corpus is encoded.
    pytest.param({"collection": "a/b"}, r"collection='a/b' holds '/' at byte 1; must be 1–128 characters of \[A-Za-z0-9_.-\]",
                 id="collection-name-slash"),
    pytest.param({"collection": "x" * 129}, r"is 129 bytes; must be 1–128 characters", id="collection-name-long"),
    pytest.param({"collection": ".."}, r"collection='..' is '..'", id="collection-name-dotdot"),
    pytest.param({"guide_collection": "g g"}, r"guide_collection='g g' holds ' ' at byte 1", id="guide-name-space"),
    pytest.param({"range_min": 5, "max_rank": 5},
                 r"^invalid mining policy: max_rank: 5 is not above range_min \(5\): the hardness floor ends the search",
                 id="max-rank-at-range-min"),
]


@pytest.mark.parametrize("kwargs, match", BAD_SCORES)
def test_bad_scores_and_counts_fail_before_encoding(client: hardneg.Client, kwargs: dict[str, Any], match: str) -> None:
    model = CountingModel()
    before = _names(client)
    with pytest.raises(ValueError, match=match):
        mine_hard_negatives(DATA, model, verbose=False, client=client, **kwargs)
    assert model.calls == 0
    assert _names(client) == before


@pytest.mark.parametrize("kwargs, match", [
    # ST: TypeError from torch.topk; hardneg names the argument, before encoding.
    ({"num_negatives": 2.5}, r"num_negatives must be an integer"),
    ({"num_negatives": True}, r"num_negatives must be an integer"),
    ({"num_negatives": "3"}, r"num_negatives must be an integer"),
    ({"range_min": 2.0}, r"range_min must be an integer"),
    ({"range_max": 10.0}, r"range_max must be an integer"),
    ({"absolute_margin": "0.1"}, r"absolute_margin must be a finite number"),
    ({"max_score": "0.5"}, r"max_score must be a finite number"),
])
def test_arguments_of_the_wrong_type_are_type_errors(client: hardneg.Client, kwargs: dict[str, Any], match: str) -> None:
    """As sentence-transformers raises TypeError for them, so that a migrated
    ``except TypeError`` still catches them; values of the right type out of range stay
    ValueError."""
    model = CountingModel()
    with pytest.raises(TypeError, match=match):
        mine_hard_negatives(DATA, model, verbose=False, client=client, **kwargs)
    assert model.calls == 0


def test_infinite_score_bounds_are_no_bounds(client: hardneg.Client) -> None:
    """max_score=inf and min_score=-inf filter nothing, as in sentence-transformers."""
    plain = mine_hard_negatives(DATA, embed, verbose=False, client=client)
    unbounded = mine_hard_negatives(DATA, embed, verbose=False, client=client, max_score=float("inf"),
                                    min_score=float("-inf"))
    assert unbounded == plain


def test_hardneg_policy_keywords_in_range_are_accepted(client: hardneg.Client) -> None:
    # At the edges of their ranges: accepted by the checks and by the server.
    out = mine_hard_negatives(DATA, embed, verbose=False, client=client, diversity_threshold=1.0,
                              duplicate_threshold=1.0, duplicate_margin=2.0, pfn_threshold=1.0)
    assert len(next(iter(out.values()))) > 0


def test_keep_collection_needs_a_name_and_a_client(client: hardneg.Client) -> None:
    model = CountingModel()
    before = _names(client)
    with pytest.raises(ValueError, match=r"keep_collection=True needs collection=NAME"):
        mine_hard_negatives(DATA, model, verbose=False, client=client, keep_collection=True)
    with pytest.raises(ValueError, match=r"keep_collection=True needs client="):
        mine_hard_negatives(DATA, model, verbose=False, collection="kept", keep_collection=True)
    assert model.calls == 0 and _names(client) == before


def test_the_jobs_own_collection_as_its_guide_fails_before_encoding(client: hardneg.Client) -> None:
    model = CountingModel()
    with pytest.raises(ValueError, match=r"guide_collection='own' is the job's own collection"):
        mine_hard_negatives(DATA, model, verbose=False, client=client, collection="own", guide_collection="own")
    assert model.calls == 0


def test_a_guide_collection_with_a_private_server_fails_before_encoding() -> None:
    model = CountingModel()
    with pytest.raises(ValueError, match=r"guide_collection='g': the private server started for this job holds no collections"):
        mine_hard_negatives(DATA, model, verbose=False, guide_collection="g")
    assert model.calls == 0


def _with_row(value: float, row: int = 2) -> Callable[[np.ndarray], np.ndarray]:
    def f(v: np.ndarray) -> np.ndarray:
        v = v.copy()
        v[row % len(v)] = value
        return v

    return f


BAD_MODELS = [
    # ST mines rows from NaN and zero embeddings without a word.
    pytest.param(_with_row(np.nan), r"the model returned NaN or infinite values .* the first for text 2", id="nan-row"),
    pytest.param(_with_row(np.inf, 0), r"the model returned NaN or infinite values .* the first for text 0", id="inf-row"),
    pytest.param(lambda v: v.astype(np.float64) * 1e39, r"values beyond float32", id="overflows-float32"),
    pytest.param(_with_row(0.0), r"a zero vector, which has no direction under metric='cosine', for 1 of",
                 id="zero-row"),
    pytest.param(lambda v: v * 0, r"a zero vector, .* for 1[0-9] of 1[0-9] document texts", id="all-zero"),
    pytest.param(lambda v: v.astype(np.complex64), r"returned complex64 values .* it must return real numbers",
                 id="complex"),
    pytest.param(lambda v: [["x"] * v.shape[1]] * len(v), r"returned <U1 values", id="strings"),
    pytest.param(lambda v: None, r"returned object values", id="none"),
    pytest.param(lambda v: [list(r[: 3 + i % 2]) for i, r in enumerate(v)], r"did not return an array of \d+ vectors of one length",
                 id="ragged"),
    pytest.param(lambda v: v[:, 0], r"the model returned shape \(\d+,\) for \d+ texts", id="1-d"),
    pytest.param(lambda v: v[:, None, :], r"the model returned shape \(\d+, 1, \d+\)", id="3-d"),
    pytest.param(lambda v: v[:-1], r"the model returned shape \(\d+, \d+\) for \d+ texts", id="a-row-short"),
    pytest.param(lambda v: np.zeros((len(v), 0), np.float32), r"0-dimensional vectors", id="dim-0"),
]


@pytest.mark.parametrize("transform, match", BAD_MODELS)
def test_bad_model_output_fails_before_upload_and_keeps_the_collection(
    client: hardneg.Client, transform: Callable[[np.ndarray], Any], match: str
) -> None:
    # A collection named by collection= (with replace_collection=True) is replaced only
    # once the embeddings are good.
    name = f"kept-{uuid.uuid4().hex[:8]}"
    client.delete_collection(name, missing_ok=True)
    client.create_collection(name, 4, "cosine")
    client.upsert(name, ["x", "y"], np.eye(2, 4, dtype=np.float32))
    try:
        with pytest.raises(ValueError, match=match):
            mine_hard_negatives(DATA, CountingModel(transform), verbose=False, collection=name, keep_collection=True,
                                replace_collection=True, client=client)
        info = client.get_collection(name)
        assert (info.dim, info.stats.item_count) == (4, 2)
    finally:
        client.delete_collection(name, missing_ok=True)


def test_zero_vectors_are_fine_under_dot(client: hardneg.Client) -> None:
    # Only cosine needs a direction: under dot a zero embedding scores 0 with everything.
    data = mine_hard_negatives(DATA, CountingModel(_with_row(0.0)), metric="dot", num_negatives=1, verbose=False,
                               client=client)
    assert len(data["negative"]) == len(ANCHORS)


def test_one_row_mines_nothing_like_sentence_transformers(client: hardneg.Client) -> None:
    # ST 6.2 returns the columns with no rows: the only document is the anchor's positive.
    data, report = mine_hard_negatives({"query": ["a question"], "answer": ["its answer"]}, CountingModel(),
                                       verbose=False, return_report=True, client=client)
    assert data == {"query": [], "answer": [], "negative": []}
    assert (report.queries, report.rows, report.rows_possible) == (1, 0, 3)


def test_an_empty_string_is_a_text(client: hardneg.Client) -> None:
    # "" is a text like any other (sentence-transformers encodes it too).
    data = mine_hard_negatives({"query": [""] + ANCHORS[1:], "answer": POSITIVES}, CountingModel(), num_negatives=1,
                               verbose=False, client=client)
    assert data["query"][0] == "" and len(data["negative"]) == len(ANCHORS)


def test_an_anchor_with_a_lone_surrogate_is_a_text(client: hardneg.Client) -> None:
    # Text read with errors="surrogateescape" holds lone surrogates; its feedback key
    # (anchor_key, a hash of the UTF-8) used to fail after the whole corpus was encoded.
    from hardneg.datasets import anchor_key

    odd = "bad \udc80 text"
    assert anchor_key(odd) != anchor_key("bad  text") and anchor_key(odd).startswith("q:")
    data = mine_hard_negatives({"query": [odd] + ANCHORS[1:], "answer": POSITIVES}, CountingModel(), num_negatives=1,
                               verbose=False, client=client)
    assert data["query"][0] == odd and len(data["negative"]) == len(ANCHORS)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        pytest.param({"positives": [["p"]]}, ValueError, r"positives has 1 entries for 2 anchors", id="fewer-positives"),
        pytest.param({"negative_scores": [[0.1]]}, ValueError, r"negative_scores has 1 entries for 2 anchors",
                     id="fewer-score-lists"),
        pytest.param({"positive_scores": [[0.9, 0.8], [0.9]]}, ValueError, r"anchor 0 has 1 positives and 2 positive_scores",
                     id="scores-per-positive"),
        pytest.param({"negatives": [["n1", "n2"], ["n3"]]}, ValueError, r"anchor 0 has 2 negatives and 1 negative_scores",
                     id="scores-per-negative"),
        pytest.param({"anchors": "ab"}, TypeError, r"anchors must be a sequence of strings, not a single string",
                     id="string-anchors"),
        pytest.param({"num_negatives": 0, "output_format": "n-tuple"}, ValueError, r"num_negatives must be an integer ≥ 1",
                     id="n-tuple-of-0"),
        pytest.param({"output_format": "pairs"}, ValueError, r"unknown output_format 'pairs'", id="unknown-format"),
    ],
)
def test_build_rows_refuses_lists_that_do_not_line_up(kwargs: dict[str, Any], error: type, match: str) -> None:
    # zip() used to cut the longer lists silently, dropping rows.
    from hardneg.datasets import build_rows

    args: dict[str, Any] = {"anchors": ["a", "b"], "positives": [["p"], ["q"]], "positive_scores": [[0.9], [0.8]],
                            "negatives": [["n1"], ["n2"]], "negative_scores": [[0.1], [0.2]]}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        build_rows(args.pop("anchors"), args.pop("positives"), args.pop("positive_scores"), args.pop("negatives"),
                   args.pop("negative_scores"), **args)


@pytest.mark.parametrize("anchor", [None, b"bytes", 3])
def test_anchor_key_needs_the_anchor_text(anchor: Any) -> None:
    from hardneg.datasets import anchor_key

    with pytest.raises(TypeError, match="anchor must be a string"):
        anchor_key(anchor)


@pytest.mark.parametrize(
    "corpus, error, match",
    [
        # ST: ValueError "Unsupported input type: NoneType" from the encoder.
        pytest.param(["a document", None], ValueError, r"column 'corpus' must hold strings; row 1 is NoneType", id="none"),
        pytest.param(["a document", 7], ValueError, r"column 'corpus' must hold strings; row 1 is int 7", id="int"),
        pytest.param([["a document"]], TypeError, r"column 'corpus' must hold strings; row 0 is list", id="list"),
        # ST: TypeError concatenating the string with the positives.
        pytest.param("one long document", TypeError, r"corpus must be a list of strings", id="string"),
        pytest.param({"doc": "text"}, TypeError, r"corpus must be a list of strings", id="dict"),
        pytest.param(5, TypeError, r"corpus must be a list of strings", id="number"),
    ],
)
def test_bad_corpus_fails_before_encoding(client: hardneg.Client, corpus: Any, error: type, match: str) -> None:
    model = CountingModel()
    with pytest.raises(error, match=match):
        mine_hard_negatives(DATA, model, corpus=corpus, verbose=False, client=client)
    assert model.calls == 0


def test_a_corpus_generator_is_read_once(client: hardneg.Client) -> None:
    docs = ["a python generator yields values lazily", "json.dumps serialises an object to a string"]
    data = mine_hard_negatives(DATA, CountingModel(), corpus=(d for d in docs), num_negatives=1, verbose=False,
                               return_report=True, client=client)[1]
    assert data.queries == len(set(ANCHORS))


class BrokenCrossEncoder:
    """A cross-encoder whose scores go wrong in a chosen way."""

    def __init__(self, how: str) -> None:
        self.how = how

    def predict(self, pairs: list[tuple[str, str]], batch_size: int = 32, **kw: Any) -> Any:
        s = np.linspace(0.9, 0.1, len(pairs)).astype(np.float32)
        if self.how == "nan":
            s[-1] = np.nan
        elif self.how == "short":
            s = s[:-1]
        elif self.how == "text":
            return ["high"] * len(pairs)
        return s


@pytest.mark.parametrize("how, match", [
    ("nan", r"the cross_encoder returned NaN or infinite scores for 1 of \d+ pairs, the first for \('"),
    ("short", r"the cross_encoder returned \d+ scores for \d+ pairs"),
    ("text", r"the cross_encoder did not return one number per pair"),
])
def test_a_cross_encoder_that_returns_no_usable_scores(client: hardneg.Client, how: str, match: str) -> None:
    # ST sorts and filters NaN scores as if they were numbers (rows at random).
    before = _names(client)
    with pytest.raises(ValueError, match=match):
        mine_hard_negatives(DATA, CountingModel(), cross_encoder=BrokenCrossEncoder(how), max_score=0.95, verbose=False,
                            client=client)
    assert _names(client) == before


def test_an_async_client_is_refused_before_anything_runs(server: Any) -> None:
    # Its calls return coroutines: nothing would reach the server, and the failure came
    # from deep inside with "coroutine was never awaited" warnings.
    from hardneg.aio import AsyncClient

    model = CountingModel()
    with pytest.raises(TypeError, match="mine_hard_negatives needs a hardneg.Client; a hardneg.aio.AsyncClient"):
        mine_hard_negatives(DATA, model, verbose=False, client=AsyncClient(server.target))
    assert model.calls == 0


def test_as_dataset_without_the_datasets_package_fails_before_encoding(
    client: hardneg.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "datasets", None)  # `import datasets` raises ImportError
    model = CountingModel()
    before = _names(client)
    with pytest.raises(ImportError, match="as_dataset=True needs the datasets package"):
        mine_hard_negatives(DATA, model, verbose=False, client=client, as_dataset=True)
    assert model.calls == 0 and _names(client) == before


@pytest.mark.parametrize("keep", [False, True])
def test_an_existing_collection_is_refused_unless_replace_collection(client: hardneg.Client, keep: bool) -> None:
    # The caller's collection of that name (another dimension: unrelated data) is neither
    # filled nor deleted, and nothing is encoded, unless the call says to replace it.
    name = f"mine-{uuid.uuid4().hex[:8]}"
    client.create_collection(name, 8, "dot")
    client.upsert(name, ["x", "y", "z"], np.eye(3, 8, dtype=np.float32))
    try:
        model = CountingModel()
        with pytest.raises(ValueError, match=rf"collection='{name}' already exists on the server \(3 items, dim 8, "
                                             r"dot\).*replace_collection=True"):
            mine_hard_negatives(DATA, model, verbose=False, collection=name, keep_collection=keep, client=client)
        assert model.calls == 0
        info = client.get_collection(name)
        assert (info.dim, info.metric, info.stats.item_count) == (8, "dot", 3)
        data = mine_hard_negatives(DATA, model, num_negatives=1, verbose=False, collection=name, keep_collection=keep,
                                   replace_collection=True, client=client)
        assert len(data["negative"]) > 0
        assert (name in _names(client)) == keep
        if keep:
            assert client.get_collection(name).dim == embed(["a"]).shape[1]
    finally:
        client.delete_collection(name, missing_ok=True)


def test_replace_collection_must_be_a_bool(client: hardneg.Client) -> None:
    with pytest.raises(TypeError, match="replace_collection"):
        mine_hard_negatives(DATA, embed, verbose=False, collection="x", replace_collection="yes", client=client)


def test_the_embedding_checks_flag_only_bad_rows() -> None:
    # The checks square each row in float32 first: rows whose squares underflow to 0
    # (tiny values) or overflow to inf (huge finite values) are good, and must pass; a
    # zero row and a NaN row among them are named by their own index.
    from hardneg.datasets import _encode

    texts = [f"t{i}" for i in range(6)]
    good = np.full((6, 4), 0.5, np.float32)
    good[1], good[4] = 1e-30, 3e38
    out = _encode(lambda ts: good[[texts.index(t) for t in ts]], texts, "document", None, None, 2, False)
    assert np.array_equal(out, good)
    zero = good.copy()
    zero[3] = 0
    with pytest.raises(ValueError, match=r"a zero vector, .* for 1 of 6 document texts, the first for text 3"):
        _encode(lambda ts: zero, texts, "document", None, None, 2, False)
    assert _encode(lambda ts: zero, texts, "document", None, None, 2, False, metric="dot") is not None
    nan = good.copy()
    nan[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite values .* for 1 of 6 document texts, the first for text 5"):
        _encode(lambda ts: nan, texts, "document", None, None, 2, False)
