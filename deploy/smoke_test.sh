#!/usr/bin/env bash
# Tests deploy/smoke.sh against a real miner-server: the metrics check that the image
# smoke test runs must pass every time (it once failed ~4 in 10 under pipefail), and the
# checks must fail when what they look for is absent.
#
#   deploy/smoke_test.sh BIN [RUNS]   (make test-deploy runs it with bin/miner-server, 50)
set -euo pipefail
bin=${1:?usage: smoke_test.sh BIN [RUNS]}
runs=${2:-50}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/smoke.sh
. "$here/smoke.sh"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
grpc=$(free_port); http=$(free_port)
"$bin" -data-dir "$dir/data" -grpc-addr "127.0.0.1:$grpc" -http-addr "127.0.0.1:$http" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do
	http_get "http://127.0.0.1:$http/readyz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; echo "smoke_test: server exited" >&2; exit 1; }
	sleep 0.05
done

ok=0
for _ in $(seq 1 "$runs"); do
	metrics_have "http://127.0.0.1:$http/metrics" hardneg_build_info && ok=$((ok + 1))
done
echo "smoke_test: metrics check passed $ok/$runs"
[ "$ok" = "$runs" ] || exit 1

fail() { echo "smoke_test: $*" >&2; exit 1; }
if metrics_have "http://127.0.0.1:$http/metrics" hardneg_no_such_metric 2>/dev/null; then fail "metrics_have found a metric that does not exist"; fi
if metrics_have "http://127.0.0.1:$http/metrics" hardneg_build 2>/dev/null; then fail "metrics_have matched a name prefix"; fi
if metrics_have "http://127.0.0.1:1/metrics" hardneg_build_info 2>/dev/null; then fail "metrics_have passed on a refused connection"; fi
if elf_is_static "$(readlink -f /bin/sh)" 2>/dev/null; then fail "elf_is_static passed on the dynamically linked /bin/sh"; fi
printf '#!/bin/sh\n' >"$dir/script"
if elf_is_static "$dir/script" 2>/dev/null; then fail "elf_is_static passed on a non-ELF file"; fi
CGO_ENABLED=0 go build -o "$dir/static" "$here/../cmd/miner-server"
elf_is_static "$dir/static" || fail "elf_is_static failed on a CGO_ENABLED=0 binary"

kill -TERM "$pid"
status=0; wait "$pid" || status=$?
pid=""
[ "$status" = 0 ] || { cat "$dir/log" >&2; fail "server exited with status $status after SIGTERM"; }
echo "smoke_test: ok"
