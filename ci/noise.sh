#!/usr/bin/env bash
# ci/noise.sh [SECONDS]: noise to run beside the test suite, to prove that it
# never goes red for someone else's reasons. For SECONDS (default 600), or
# until it is killed (SIGINT, SIGTERM), it keeps
#   - named namespaces coming and going every few milliseconds, as other users
#     of the machine do with `ip netns add` (needs root; named noise-PID-N,
#     and only its own are ever deleted),
#   - 10-host topologies being built, pinged and torn down by the project's
#     own command line tool (`nstest run --topo single,10`, built once),
#   - both cores busy with a CPU burner per core.
# It then stops, leaving nothing behind: every namespace it named is deleted
# and every process it started has exited. It prints what it did.
#
#   ci/noise.sh 900 & noise=$!
#   ci/test.sh
#   kill $noise; wait $noise
set -uo pipefail
cd "$(dirname "$0")/.."

duration=${1:-600}
case $duration in
  '' | *[!0-9]*) echo "usage: ci/noise.sh [SECONDS]" >&2; exit 2 ;;
esac
prefix="noise-$$-"
tmp=$(mktemp -d /tmp/nstest-noise.XXXXXX)
workers=()

cleanup() {
  trap - EXIT INT TERM
  for p in "${workers[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${workers[@]}"; do wait "$p" 2>/dev/null; done
  # Each namespace worker deletes its own on the way out; sweep what a
  # worker killed harder may have left, by this run's prefix only.
  local left=0
  for f in /run/netns/"$prefix"*; do
    [ -e "$f" ] || continue
    ip netns del "${f##*/}" && left=$((left + 1))
  done
  local made cycles failed
  made=$(cat "$tmp"/netns.* 2>/dev/null | awk '{n += $1} END {print n + 0}')
  cycles=$(cat "$tmp/topo.cycles" 2>/dev/null || echo 0)
  failed=$(cat "$tmp/topo.failed" 2>/dev/null || echo 0)
  echo "noise: ${SECONDS}s: $made named namespaces added and deleted ($left swept at exit), $cycles topologies of 10 hosts built and torn down ($failed failed), 2 cores kept busy"
  if [ "$failed" != 0 ]; then
    echo "noise: first failed topology run:"
    cat "$tmp"/topo.fail.* 2>/dev/null | head -40
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Named namespaces: add one every few ms, delete the one before the last, so
# that two of ours exist at any time. A worker stops between two commands when
# told, then deletes what it still has.
netns_worker() {
  local id=$1 i=0 stop=0
  trap 'stop=1' TERM
  while [ "$stop" = 0 ] && [ "$SECONDS" -lt "$duration" ]; do
    i=$((i + 1))
    ip netns add "$prefix$id-$i" || echo "noise: ip netns add $prefix$id-$i failed" >&2
    sleep 0.003
    if [ "$i" -gt 2 ]; then ip netns del "$prefix$id-$((i - 2))"; fi
  done
  for n in $((i - 1)) "$i"; do
    [ "$n" -gt 0 ] && [ -e "/run/netns/$prefix$id-$n" ] && ip netns del "$prefix$id-$n"
  done
  echo "$i" >"$tmp/netns.$id"
}

# Topologies: the project's own CLI, built once, in a loop. A run that fails
# is kept for the summary (a failure here is a flake of the CLI under load).
topo_worker() {
  local bin=$1 cycles=0 failed=0 stop=0 c
  trap 'stop=1; kill -TERM $c 2>/dev/null' TERM
  while [ "$stop" = 0 ] && [ "$SECONDS" -lt "$duration" ]; do
    "$bin" run --topo single,10 >"$tmp/topo.out" 2>&1 &
    c=$!
    wait "$c"
    rc=$?
    [ "$stop" = 1 ] && { wait "$c" 2>/dev/null; break; }
    cycles=$((cycles + 1))
    if [ "$rc" != 0 ]; then
      failed=$((failed + 1))
      cp "$tmp/topo.out" "$tmp/topo.fail.$failed"
    fi
    echo "$cycles" >"$tmp/topo.cycles"
    echo "$failed" >"$tmp/topo.failed"
  done
}

burner() {
  trap 'exit 0' TERM
  while [ "$SECONDS" -lt "$duration" ]; do :; done
}

if [ "$(id -u)" = 0 ] && command -v ip >/dev/null 2>&1; then
  for id in 1 2; do
    netns_worker "$id" &
    workers+=($!)
  done
else
  echo "noise: not root or no ip (iproute2): no named namespaces"
fi
if go build -o "$tmp/nstest" ./cmd/nstest; then
  topo_worker "$tmp/nstest" &
  workers+=($!)
else
  echo "noise: cannot build ./cmd/nstest: no topologies" >&2
fi
for _ in 1 2; do
  burner &
  workers+=($!)
done
echo "noise: running for ${duration}s (pid $$; namespaces named $prefix*)"
for p in "${workers[@]}"; do wait "$p"; done
