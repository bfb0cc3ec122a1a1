# Checks shared by deploy/image.sh and deploy/smoke_test.sh. Source it; it sets no
# shell options of its own.
#
# Every check reads a whole response into a variable before it matches: a pipeline such
# as `curl … | grep -q X` under `set -o pipefail` fails whenever grep exits at its first
# match while curl is still writing (curl exit 23), so it must not be used.

# http_get URL: prints the body of URL; fails when the request fails or is not 2xx.
http_get() {
	curl -fsS --max-time 10 "$1"
}

# metrics_have URL NAME: succeeds when the Prometheus text page at URL has a sample of
# the metric NAME (a line starting with NAME followed by "{" or " ").
metrics_have() {
	local body
	body=$(http_get "$1") || return 1
	case $'\n'"$body" in
	*$'\n'"$2{"* | *$'\n'"$2 "*) return 0 ;;
	esac
	echo "smoke: $1 has no sample of $2" >&2
	return 1
}

# elf_is_static FILE: succeeds when FILE is an ELF executable without a program
# interpreter (statically linked). Needs readelf (binutils); fails when it is missing.
elf_is_static() {
	command -v readelf >/dev/null || { echo "smoke: readelf is missing (apt-get install binutils)" >&2; return 1; }
	local headers
	headers=$(readelf -lW "$1" 2>&1) || { echo "smoke: $1 is not an ELF file: $headers" >&2; return 1; }
	case "$headers" in
	*"Requesting program interpreter"* | *INTERP*) echo "smoke: $1 is dynamically linked" >&2; return 1 ;;
	esac
	return 0
}
