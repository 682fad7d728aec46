#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls it):
# installs the tools the tests use when they are missing, checks formatting
# and vet, runs every test with the race detector, and fuzzes the
# topology-file parser briefly. Run it as root (sudo ci/test.sh), or as an
# ordinary user: the tests then run inside a user namespace (nstest.Main).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
command -v tcpdump >/dev/null 2>&1 || need+=(tcpdump)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ovs-vswitchd >/dev/null 2>&1 || need+=(openvswitch-switch)
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
echo "== fuzz the topology-file parser (15s)"
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 15s ./nstest/topofile/
