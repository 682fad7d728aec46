#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it):
# installs the tools the tests use when they are missing, checks formatting
# and vet, runs every test with the race detector, and fuzzes the
# topology-file parser and the capture decoders briefly. Run it as root (sudo ci/test.sh), or as an
# ordinary user: the tests then run inside a user namespace (nstest.Main).
set -euo pipefail
cd "$(dirname "$0")/.."

# The programs the tests run or cross-check with, and their Debian packages.
# A test whose program is missing skips, naming the package; as root this
# script installs them all.
need=()
while read -r cmd pkg; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
done <<'PROGRAMS'
ip iproute2
ping iputils-ping
tcpdump tcpdump
nft nftables
ovs-vswitchd openvswitch-switch
erl erlang-nox
dnsmasq dnsmasq-base
busybox busybox
iperf3 iperf3
python3 python3
dot graphviz
tshark tshark
getent libc-bin
unshare util-linux
PROGRAMS
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ci/test.sh: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    # The package may start the system's OVS service; the tests never use it
    # (each topology runs daemons of its own): stop what the install started.
    if [[ " ${need[*]} " == *" openvswitch-switch "* ]] && /usr/share/openvswitch/scripts/ovs-ctl status >/dev/null 2>&1; then
      /usr/share/openvswitch/scripts/ovs-ctl stop >/dev/null 2>&1 || true
    fi
  else
    echo "ci/test.sh: missing ${need[*]}; the tests that use them will skip, saying so"
  fi
fi

echo "== gofmt"
unformatted=$(gofmt -l $(find . -name '*.go' -not -path './.git/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
echo "== go vet"
go vet ./...
echo "== go test -race"
go test -race -count=1 ./...
echo "== fuzz the topology-file parser and the packet decoders (15s, 10s, 10s)"
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 15s ./nstest/topofile/
go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 10s ./nstest/capture/
go test -run '^$' -fuzz '^FuzzReadPcapng$' -fuzztime 10s ./nstest/capture/
