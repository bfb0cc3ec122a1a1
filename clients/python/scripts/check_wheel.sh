#!/usr/bin/env bash
# Installs a platform wheel of hardneg into a new virtual environment and checks, with
# no Go toolchain and no miner-server on PATH, that:
#   - the wheel carries a static miner-server, and `hardneg serve --help` runs it;
#   - hardneg.datasets.mine_hard_negatives(dataset, model) mines a small dataset end to
#     end with no client given (a private server is started and stopped);
#   - that private server is gone afterwards.
# Usage: check_wheel.sh WHEEL
set -euo pipefail
wheel=$(realpath "$1")
python=${PYTHON:-python3}
pyexe=$(command -v "$python")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$pyexe" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$wheel"

# A PATH with the new venv and the system directories only: no Go, no miner-server.
export PATH="$work/venv/bin:/usr/bin:/bin"
unset HARDNEG_SERVER_BIN GOROOT GOPATH
if command -v go >/dev/null || command -v miner-server >/dev/null; then
  echo "check_wheel: go or miner-server still on PATH" >&2; exit 1
fi
cd "$work"

file_out=$(python -c 'import hardneg._server as s; print(s.bundled_binary())')
case "$file_out" in */hardneg/_bin/miner-server) ;; *) echo "no bundled binary: $file_out" >&2; exit 1 ;; esac
# Outputs are captured before they are matched: `cmd | grep -q X` under pipefail fails
# whenever grep exits at its first match while cmd is still writing (SIGPIPE).
if command -v ldd >/dev/null && grep -q '=>' <<<"$(ldd "$file_out" 2>&1 || true)"; then
  echo "bundled miner-server is dynamically linked:" >&2; ldd "$file_out" >&2; exit 1
fi
if ! help_out=$(hardneg serve --help 2>&1); then
  echo "hardneg serve --help failed:" >&2; echo "$help_out" >&2; exit 1
fi
grep -q -- '-grpc-addr' <<<"$help_out" || { echo "hardneg serve --help did not print the server's flags:" >&2; echo "$help_out" >&2; exit 1; }

python - <<'PY'
import hashlib, os, re, subprocess
import numpy as np
from hardneg.datasets import mine_hard_negatives

def embed(texts):
    out = np.zeros((len(texts), 64), np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"[a-z]+", t.lower()):
            h = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
            out[i, h % 64] += 1.0 if (h >> 8) & 1 else -1.0
        out[i, len(t) % 64] += 0.1
    return out

pairs = {
    "anchor": ["how to read a file", "how to write a file", "what is a list", "what is a dict", "how to sort"],
    "positive": ["open() then read()", "open in write mode", "a mutable sequence", "a key value map", "sorted() or list.sort"],
}
data = mine_hard_negatives(pairs, embed, num_negatives=2, verbose=False)
assert list(data) == ["anchor", "positive", "negative"], list(data)
assert len(data["negative"]) == 10, data
assert all(n != p for p, n in zip(data["positive"], data["negative"]))
import hardneg._server
left = subprocess.run(["pgrep", "-f", hardneg._server.bundled_binary()], capture_output=True, text=True).stdout.strip()
assert not left, f"private server still running: {left}"
print(f"wheel OK: mined {len(data['negative'])} rows with the bundled server")
PY
