#!/usr/bin/env bash
# A 3-node Weaviate cluster on loopback ports, with a miner-server (-backend weaviate) in
# front: the scale-out mode on one machine, for tests and for trying it out.
#
#   deploy/cluster/cluster.sh up WEAVIATE_BIN [MINER_BIN]   start the nodes (and a miner)
#   deploy/cluster/cluster.sh down                          stop everything, remove the data
#   deploy/cluster/cluster.sh status                        print the state file
#   deploy/cluster/cluster.sh kill-node I                   kill -9 node I (fault tests)
#   deploy/cluster/cluster.sh start-node I                  restart node I on its ports and data
#
# Everything lives under CLUSTER_DIR (default .cache/cluster): data/node-<i>, logs/, and
# state.env, which holds the addresses (sourced by `make test-scaleout`):
#   WEAVIATE_HTTP_ADDRS   host:port of each node's REST API, comma-separated
#   WEAVIATE_GRPC_ADDRS   host:port of each node's gRPC API, comma-separated
#   MINER_GRPC_ADDR       the miner-server's gRPC address (when one was started)
#   MINER_HTTP_ADDR       the miner-server's HTTP address (metrics, health)
#   NODE_PIDS             the node processes, in node order
#   PIDS                  every process `down` stops
#   BASE, WEAVIATE_BIN    the port block and binary, for start-node
# Each node runs with a clean environment (env -i): only what is written here applies.
set -euo pipefail

NODES=3
CLUSTER_DIR=$(realpath -m "${CLUSTER_DIR:-.cache/cluster}")
STATE="$CLUSTER_DIR/state.env"
READY_TIMEOUT_S=${READY_TIMEOUT_S:-90}
REPLICATION_FACTOR=${REPLICATION_FACTOR:-3}

die() { echo "cluster: $*" >&2; exit 1; }

# port_free P: true when nothing listens on 127.0.0.1:P.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pick_base: a base port B such that B .. B+10*NODES+9 are all free. Node i uses
# B+10i+0 (REST), +1 (gRPC), +2/+3 (gossip, data), +4/+5 (Raft, Raft RPC), +6 (profiling);
# the miner-server uses B+10*NODES (gRPC) and +1 (HTTP).
pick_base() {
	local tries base p ok
	for tries in $(seq 1 50); do
		# Below Linux's ephemeral range (32768–60999), where outgoing connections
		# would take ports between the check and the bind.
		base=$((20000 + (RANDOM % 1200) * 10))
		ok=1
		for p in $(seq "$base" $((base + 10 * NODES + 9))); do
			port_free "$p" || { ok=0; break; }
		done
		if [ "$ok" = 1 ]; then echo "$base"; return 0; fi
	done
	die "no free block of ports found"
}

# wait_port P: wait until 127.0.0.1:P accepts connections.
wait_port() {
	local deadline=$((SECONDS + READY_TIMEOUT_S))
	until ! port_free "$1"; do
		[ "$SECONDS" -lt "$deadline" ] || die "port $1 did not open in ${READY_TIMEOUT_S}s (see $CLUSTER_DIR/logs)"
		sleep 0.2
	done
}

# wait_ready ADDR: poll Weaviate's readiness endpoint on host:port ADDR.
wait_ready() {
	local deadline=$((SECONDS + READY_TIMEOUT_S))
	until curl -fs -o /dev/null "http://$1/v1/.well-known/ready" 2>/dev/null; do
		[ "$SECONDS" -lt "$deadline" ] || die "node $1 not ready in ${READY_TIMEOUT_S}s (see $CLUSTER_DIR/logs)"
		sleep 0.3
	done
}

start_node() { # start_node I BASE WEAVIATE_BIN [rejoin]
	local i=$1 base=$2 bin=$3 rejoin=${4:-}
	local b=$((base + 10 * i)) raft_join="" gossip="" j
	for j in $(seq 0 $((NODES - 1))); do
		raft_join+="${raft_join:+,}weaviate-$j:$((base + 10 * j + 4))"
		[ "$j" = "$i" ] || gossip+="${gossip:+,}localhost:$((base + 10 * j + 2))"
	done
	# At first every node joins node 0's gossip; a restarted node joins the others
	# (node 0 too: alone, it would never learn of the cluster again).
	local join=()
	if [ -n "$rejoin" ]; then
		join=("CLUSTER_JOIN=$gossip")
	elif [ "$i" != 0 ]; then
		join=("CLUSTER_JOIN=localhost:$((base + 2))")
	fi
	mkdir -p "$CLUSTER_DIR/data/node-$i"
	env -i \
		HOME="$CLUSTER_DIR" \
		AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true \
		DEFAULT_VECTORIZER_MODULE=none \
		ENABLE_MODULES= \
		DISABLE_TELEMETRY=true \
		LOG_LEVEL=warning \
		PERSISTENCE_DATA_PATH="$CLUSTER_DIR/data/node-$i" \
		CLUSTER_HOSTNAME="weaviate-$i" \
		CLUSTER_IN_LOCALHOST=true \
		CLUSTER_BIND_ADDR=127.0.0.1 \
		CLUSTER_ADVERTISE_ADDR=127.0.0.1 \
		CLUSTER_GOSSIP_BIND_PORT=$((b + 2)) \
		CLUSTER_DATA_BIND_PORT=$((b + 3)) \
		"${join[@]}" \
		RAFT_PORT=$((b + 4)) \
		RAFT_INTERNAL_RPC_PORT=$((b + 5)) \
		RAFT_JOIN="$raft_join" \
		RAFT_BOOTSTRAP_EXPECT=$NODES \
		GRPC_PORT=$((b + 1)) \
		GO_PROFILING_PORT=$((b + 6)) \
		"$bin" --scheme http --host 127.0.0.1 --port "$b" \
		>"$CLUSTER_DIR/logs/node-$i.log" 2>&1 &
	echo $!
}

up() {
	local bin=${1:-} miner=${2:-}
	[ -n "$bin" ] && [ -x "$bin" ] || die "usage: $0 up WEAVIATE_BIN [MINER_BIN] (weaviate-server not found: '$bin')"
	[ ! -e "$STATE" ] || die "$STATE exists: a cluster is up (run '$0 down' first)"
	command -v curl >/dev/null || die "curl is needed"
	mkdir -p "$CLUSTER_DIR/logs"
	local base pids=() http=() grpc=() i
	base=$(pick_base)
	BASE=$base WEAVIATE_BIN=$(realpath "$bin")
	for i in $(seq 0 $((NODES - 1))); do
		pids+=("$(start_node "$i" "$base" "$bin")")
		http+=("127.0.0.1:$((base + 10 * i))")
		grpc+=("127.0.0.1:$((base + 10 * i + 1))")
		# Write the state as soon as a process runs, so that `down` can always stop it.
		write_state "${pids[*]}" "$(join_by , "${http[@]}")" "$(join_by , "${grpc[@]}")" "" "" "${pids[*]}"
		# Node 0 must gossip before the others can join it.
		[ "$i" != 0 ] || wait_port $((base + 2))
	done
	for i in $(seq 0 $((NODES - 1))); do
		wait_ready "${http[$i]}"
	done
	local miner_grpc="" miner_http="" nodes="${pids[*]}"
	if [ -n "$miner" ]; then
		miner_grpc="127.0.0.1:$((base + 10 * NODES))"
		miner_http="127.0.0.1:$((base + 10 * NODES + 1))"
		mkdir -p "$CLUSTER_DIR/miner"
		env -i HOME="$CLUSTER_DIR" "$miner" \
			-backend weaviate \
			-weaviate-addr "${http[0]}" \
			-weaviate-grpc-addr "${grpc[0]}" \
			-weaviate-replication-factor "$REPLICATION_FACTOR" \
			-grpc-addr "$miner_grpc" -http-addr "$miner_http" \
			-data-dir "$CLUSTER_DIR/miner" \
			>"$CLUSTER_DIR/logs/miner.log" 2>&1 &
		pids+=($!)
		write_state "${pids[*]}" "$(join_by , "${http[@]}")" "$(join_by , "${grpc[@]}")" "$miner_grpc" "$miner_http" "$nodes"
		local deadline=$((SECONDS + READY_TIMEOUT_S))
		until curl -fs -o /dev/null "http://$miner_http/readyz" 2>/dev/null; do
			[ "$SECONDS" -lt "$deadline" ] || die "miner-server not ready in ${READY_TIMEOUT_S}s (see $CLUSTER_DIR/logs/miner.log)"
			sleep 0.2
		done
	fi
	cat "$STATE"
}

join_by() { local IFS=$1; shift; echo "$*"; }

write_state() { # write_state PIDS HTTP GRPC MINER_GRPC MINER_HTTP NODE_PIDS
	cat >"$STATE.tmp" <<EOF
WEAVIATE_HTTP_ADDRS=$2
WEAVIATE_GRPC_ADDRS=$3
MINER_GRPC_ADDR=$4
MINER_HTTP_ADDR=$5
NODE_PIDS="$6"
PIDS="$1"
BASE=$BASE
WEAVIATE_BIN=$WEAVIATE_BIN
EOF
	mv "$STATE.tmp" "$STATE"
}

down() {
	if [ -e "$STATE" ]; then
		local PIDS="" p
		# shellcheck disable=SC1090
		. "$STATE"
		for p in $PIDS; do kill "$p" 2>/dev/null || true; done
		for p in $PIDS; do
			for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$p" 2>/dev/null || true
		done
	fi
	rm -rf "$CLUSTER_DIR/data" "$CLUSTER_DIR/miner" "$STATE"
}

# kill_node I: kill -9 node I, as a crash would.
kill_node() {
	[ -e "$STATE" ] || die "no cluster"
	# shellcheck disable=SC1090
	. "$STATE"
	local pids=($NODE_PIDS)
	kill -9 "${pids[$1]}"
	wait_gone "${pids[$1]}"
}

wait_gone() { while kill -0 "$1" 2>/dev/null; do sleep 0.1; done; }

# restart_node I: start node I again on its ports and data directory, and wait until
# it is ready.
restart_node() {
	[ -e "$STATE" ] || die "no cluster"
	# shellcheck disable=SC1090
	. "$STATE"
	local pids=($NODE_PIDS) i=$1 pid
	pid=$(start_node "$i" "$BASE" "$WEAVIATE_BIN" rejoin)
	pids[$i]=$pid
	write_state "$PIDS $pid" "$WEAVIATE_HTTP_ADDRS" "$WEAVIATE_GRPC_ADDRS" "$MINER_GRPC_ADDR" "$MINER_HTTP_ADDR" "${pids[*]}"
	wait_ready "127.0.0.1:$((BASE + 10 * i))"
}

case "${1:-}" in
up) shift; up "$@" ;;
down) down ;;
status) [ -e "$STATE" ] && cat "$STATE" || { echo "no cluster"; exit 1; } ;;
kill-node) kill_node "${2:?node index}" ;;
start-node) restart_node "${2:?node index}" ;;
*) die "usage: $0 up WEAVIATE_BIN [MINER_BIN] | down | status | kill-node I | start-node I" ;;
esac
