"""A small real text set that needs no download: (summary, description) pairs taken from
the docstrings of Python's standard library.

Each public function or class whose docstring has a one-line summary and a longer body
gives one pair: the summary is the anchor (a short query), the body its positive (the
document that answers it). Similar functions across modules (``json.dumps`` and
``pickle.dumps``, ``os.remove`` and ``shutil.rmtree``) make natural hard negatives.
"""

from __future__ import annotations

import importlib
import inspect
import re

MODULES = (
    "argparse", "base64", "bisect", "calendar", "collections", "concurrent.futures", "contextlib",
    "copy", "csv", "datetime", "decimal", "difflib", "email.utils", "fnmatch", "fractions",
    "functools", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "http.client", "inspect",
    "io", "ipaddress", "itertools", "json", "logging", "lzma", "mimetypes", "operator", "os",
    "os.path", "pathlib", "pickle", "platform", "pprint", "queue", "random", "re", "secrets",
    "shlex", "shutil", "socket", "sqlite3", "statistics", "string", "struct", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "time", "timeit", "tokenize", "traceback",
    "typing", "unicodedata", "urllib.parse", "urllib.request", "uuid", "warnings", "weakref",
    "zipfile", "zlib",
)


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def stdlib_pairs(limit: int | None = None, min_body: int = 60) -> list[tuple[str, str]]:
    """Returns up to ``limit`` unique (summary, description) pairs, in a stable order."""
    pairs: list[tuple[str, str]] = []
    seen_anchor: set[str] = set()
    seen_doc: set[str] = set()
    for mod_name in MODULES:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        for name, obj in sorted(vars(mod).items()):
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)):
                continue
            origin = getattr(obj, "__module__", None) or mod_name
            if origin.lstrip("_").split(".")[0] != mod_name.split(".")[0]:
                continue  # re-exported from elsewhere
            doc = inspect.getdoc(obj) or ""
            parts = doc.split("\n\n", 1)
            if len(parts) != 2:
                continue
            summary, body = _clean(parts[0]), _clean(parts[1])
            if not (15 <= len(summary) <= 200) or len(body) < min_body or summary.startswith(name + "("):
                continue
            body = body[:1000]
            if summary in seen_anchor or body in seen_doc:
                continue
            seen_anchor.add(summary)
            seen_doc.add(body)
            pairs.append((summary, body))
            if limit is not None and len(pairs) >= limit:
                return pairs
    return pairs


if __name__ == "__main__":
    ps = stdlib_pairs()
    print(f"{len(ps)} pairs; e.g.:")
    for a, p in ps[:3]:
        print(f"- {a}\n    {p[:100]}…")
