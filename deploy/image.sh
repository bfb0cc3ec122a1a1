#!/usr/bin/env bash
# Assemble the miner-server image without a container engine and smoke-test it:
# build a static binary, put it with a passwd entry for UID 65532 and CA certificates
# into a scratch image with buildah (vfs storage, no daemon), check the image runs as
# 65532, start the binary inside the image, probe gRPC health, /readyz and /metrics,
# and export the image as an OCI archive.
#
#   deploy/image.sh [OUT]   (default OUT: bin/hardneg-miner-server.oci.tar)
#
# Needs buildah (apt-get install buildah; installed when missing and running as root).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=deploy/smoke.sh
. "$here/smoke.sh"

out=${1:-bin/hardneg-miner-server.oci.tar}
tag=${IMAGE_TAG:-hardneg/miner-server:dev}
grpc_port=${GRPC_PORT:-55051}
health_port=${HEALTH_PORT:-55052}
http_port=${HTTP_PORT:-59464}
BUILDAH=(buildah --storage-driver vfs)

if ! command -v buildah >/dev/null; then
	if [ "$(id -u)" = 0 ]; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah >/dev/null
	else
		echo "image.sh: buildah is missing (apt-get install buildah)" >&2
		exit 1
	fi
fi

ctx=$(mktemp -d)
ctr=""
server_pid=""
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
	if [ -n "$ctr" ]; then "${BUILDAH[@]}" rm "$ctr" >/dev/null 2>&1 || true; fi
	rm -rf "$ctx"
}
trap cleanup EXIT

mkdir -p "$ctx/rootfs/etc/ssl/certs" "$ctx/data"
CGO_ENABLED=0 go build -trimpath \
	-ldflags "-s -w -X main.version=${VERSION:-dev} -X main.revision=${REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}" \
	-o "$ctx/rootfs/miner-server" ./cmd/miner-server
elf_is_static "$ctx/rootfs/miner-server" || { echo "image.sh: the binary is not static" >&2; exit 1; }
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$ctx/rootfs/etc/group"
cp /etc/ssl/certs/ca-certificates.crt "$ctx/rootfs/etc/ssl/certs/"
cp deploy/Containerfile.local "$ctx/Containerfile"

"${BUILDAH[@]}" bud --quiet -f "$ctx/Containerfile" -t "$tag" "$ctx" >/dev/null
user=$("${BUILDAH[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$tag")
[ "$user" = "65532:65532" ] || { echo "image.sh: image user is '$user', want 65532:65532" >&2; exit 1; }
echo "image.sh: built $tag (user $user)"

ctr=$("${BUILDAH[@]}" from --quiet "$tag")
"${BUILDAH[@]}" run --isolation chroot "$ctr" -- /miner-server \
	-grpc-addr=127.0.0.1:$grpc_port -health-grpc-addr=127.0.0.1:$health_port -http-addr=127.0.0.1:$http_port &
server_pid=$!

probe() { go tool -modfile=tools/go.mod grpc-health-probe -addr=127.0.0.1:$health_port -service=hardneg.v1.MinerService >/dev/null 2>&1; }
for _ in $(seq 1 100); do
	probe && break
	kill -0 "$server_pid" 2>/dev/null || { echo "image.sh: the server in the image exited" >&2; exit 1; }
	sleep 0.1
done
probe || { echo "image.sh: gRPC health probe failed" >&2; exit 1; }
http_get "http://127.0.0.1:$http_port/readyz" >/dev/null
metrics_have "http://127.0.0.1:$http_port/metrics" hardneg_build_info
echo "image.sh: server in the image is SERVING; /readyz and /metrics answer"

# Stop the server itself (not buildah, which would SIGKILL it) and require a graceful
# exit: buildah run returns the server's exit status.
pkill -TERM -x -f "/miner-server -grpc-addr=127.0.0.1:$grpc_port .*" || { echo "image.sh: no server process to stop" >&2; exit 1; }
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" = 0 ] || { echo "image.sh: the server in the image exited with status $status after SIGTERM" >&2; exit 1; }
echo "image.sh: server in the image stopped gracefully (exit 0)"

mkdir -p "$(dirname "$out")"
rm -f "$out"
"${BUILDAH[@]}" push --quiet "$tag" "oci-archive:$out:$tag"
echo "image.sh: exported $out ($(du -h "$out" | cut -f1))"
