#!/usr/bin/env bash
# ci/bench.sh: nstest side by side with the bare-netlink floor and its peers,
# in one run, on this machine, now. Prints a table of medians and ratios.
#
#   sudo ci/bench.sh              # REPS=5 by default; takes two to four minutes
#   REPS=3 BASELINES=/path/to/baselines sudo -E ci/bench.sh
#
# Peers: ../shared/baselines/rawnetlink (the floor: bare vishvananda/netlink
# calls, no framework), ../shared/baselines/seed.sh (the tutorial's shell),
# `ip netns exec`, and Mininet (`mn`, when installed). seed.sh, `ip netns` and
# Mininet work in the real root namespace: they are peers measured here and
# nowhere else, each with names of its own that are removed on exit, even on
# failure. nstest itself builds only anonymous namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
BASELINES=${BASELINES:-$(cd .. && pwd)/shared/baselines}
[ -d "$BASELINES" ] || BASELINES=/work/shared/baselines
[ "$(id -u)" = 0 ] || { echo "bench.sh: run as root (sudo ci/bench.sh): the peers need it" >&2; exit 2; }

tmp=$(mktemp -d)
P=nb$$ # prefix of every name a peer makes in the root namespace
mn_used=0
# `ip netns add` makes /run/netns a mount point; put it back as it was.
netns_was_mount=0
grep -q ' /run/netns ' /proc/self/mountinfo && netns_was_mount=1
netns_existed=0
[ -d /run/netns ] && netns_existed=1
cleanup() {
	for i in $(seq 0 "$REPS"); do
		ip link del "${P}s${i}1o" 2>/dev/null || true
		ip link del "${P}s${i}2o" 2>/dev/null || true
		ip link del "${P}s${i}br" 2>/dev/null || true
		ip netns del "${P}s${i}ns1" 2>/dev/null || true
		ip netns del "${P}s${i}ns2" 2>/dev/null || true
	done
	ip netns del "${P}x" 2>/dev/null || true
	if [ "$mn_used" = 1 ]; then mn -c >/dev/null 2>&1 || true; fi
	if [ "$netns_was_mount" = 0 ] && grep -q ' /run/netns ' /proc/self/mountinfo; then
		umount /run/netns 2>/dev/null || true
	fi
	if [ "$netns_existed" = 0 ]; then rmdir /run/netns 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }

# median reads numbers, one a line, and prints their median.
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# metric BENCHOUTPUT UNIT prints the value before UNIT on Benchmark lines.
metric() { awk -v u="$2" '/^Benchmark/ {for (i = 2; i <= NF; i++) if ($i == u) print $(i-1)}' <<<"$1"; }
now_ns() { date +%s%N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b == 0 || a == "nan" || b == "nan") print "n/a"; else printf "%.2f", a/b}'; }

log "building"
go test -c -o "$tmp/nstest.test" ./nstest
go test -c -o "$tmp/ns.test" ./internal/ns
go build -o "$tmp/nstest" ./cmd/nstest
(cd "$BASELINES/rawnetlink" && go build -o "$tmp/rawnetlink" .)
bench() { "$tmp/nstest.test" -test.run '^$' -test.bench "$1" -test.benchtime "$2" 2>&1; }
# settle lets the kernel finish destroying the previous batch's namespaces
# (cleanup_net holds the rtnl lock), so that no side pays for the other's.
settle() { sleep 1; }

# 1. Seed cycle: two hosts on a bridge, one check, teardown.
log "seed cycle"
seed_meds=() raw2=() shell=()
for r in $(seq 1 "$REPS"); do
	settle
	out=$(bench '^BenchmarkSeedMedian$' 30x)
	seed_meds+=("$(metric "$out" med-ms)")
	settle
	for k in 1 2 3 4 5 6; do
		raw2+=("$("$tmp/rawnetlink" -n 2 | sed -n 's/.*total_us=\([0-9]*\).*/\1/p' | awk '{print $1/1000}')")
	done
	settle
	t0=$(now_ns)
	bash "$BASELINES/seed.sh" "${P}s${r}" >/dev/null 2>&1 || log "seed.sh run $r failed"
	shell+=("$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN {print (b-a)/1e6}')")
done
seed=$(printf '%s\n' "${seed_meds[@]}" | median)
floor=$(printf '%s\n' "${raw2[@]}" | median)
sh_ms=$(printf '%s\n' "${shell[@]}" | median)

# 2. Hosts on 4 bridges: 10 and 1000, against rawnetlink at 1000.
log "1000 hosts"
h10=() h1000=() rss=() raw1000=()
for r in $(seq 1 "$REPS"); do
	out=$(bench '^BenchmarkScale/10$' 10x)
	h10+=("$(metric "$out" med-ms)")
done
for r in $(seq 1 3); do
	settle
	out=$(bench '^BenchmarkScale/1000$' 1x)
	h1000+=("$(metric "$out" med-ms)")
	rss+=("$(metric "$out" maxrss-MB)")
	settle
	raw1000+=("$("$tmp/rawnetlink" -n 1000 -bridges 4 | sed -n 's/.*total_us=\([0-9]*\).*/\1/p' | awk '{print $1/1000}')")
done
t10=$(printf '%s\n' "${h10[@]}" | median)
t1000=$(printf '%s\n' "${h1000[@]}" | median)
r1000=$(printf '%s\n' "${raw1000[@]}" | median)
mem=$(printf '%s\n' "${rss[@]}" | median)
per10=$(awk -v t="$t10" 'BEGIN {printf "%.2f", t/10}')
per1000=$(awk -v t="$t1000" 'BEGIN {printf "%.2f", t/1000}')

# 3. One InNS call, a bare lock+setns+restore, and `ip netns exec NS true`.
log "InNS"
innsv=() bare=() ipx=()
for r in $(seq 1 "$REPS"); do
	innsv+=("$(metric "$(bench '^BenchmarkInNS$' 20000x)" ns/op)")
	bare+=("$(metric "$("$tmp/ns.test" -test.run '^$' -test.bench '^BenchmarkBareSetns$' -test.benchtime 20000x 2>&1)" ns/op)")
done
ip netns add "${P}x"
for k in $(seq 1 $((REPS * 4))); do
	t0=$(now_ns)
	ip netns exec "${P}x" true
	ipx+=("$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN {print (b-a)/1e3}')")
done
ip netns del "${P}x"
inns_us=$(printf '%s\n' "${innsv[@]}" | median | awk '{print $1/1000}')
bare_us=$(printf '%s\n' "${bare[@]}" | median | awk '{print $1/1000}')
ipx_us=$(printf '%s\n' "${ipx[@]}" | median)

# 4. single,20 pingall, against Mininet when it is installed and works.
log "single,20 pingall"
s20=()
for r in $(seq 1 3); do
	settle
	# The whole command, process start to exit, as for mn below.
	t0=$(now_ns)
	if "$tmp/nstest" run --topo single,20 >"$tmp/nstest.out" 2>&1; then
		s20+=("$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN {print (b-a)/1e6}')")
	else
		log "nstest run --topo single,20 failed: $(tail -1 "$tmp/nstest.out")"
	fi
done
single=$(printf '%s\n' "${s20[@]}" | median)
mn_ms=nan
if command -v mn >/dev/null && command -v brctl >/dev/null; then
	mn_used=1
	mns=()
	for r in $(seq 1 3); do
		settle
		t0=$(now_ns)
		if mn --switch lxbr --controller none --topo single,20 --test pingall >"$tmp/mn.out" 2>&1 &&
			grep -q 'Results: 0% dropped' "$tmp/mn.out"; then
			mns+=("$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN {print (b-a)/1e6}')")
		else
			log "mn run $r failed: $(tail -1 "$tmp/mn.out")"
		fi
		mn -c >/dev/null 2>&1 || true
	done
	[ ${#mns[@]} -gt 0 ] && mn_ms=$(printf '%s\n' "${mns[@]}" | median)
else
	log "Mininet not installed (apt-get install mininet bridge-utils): skipped"
fi

# 5. single,20 pingall on Open vSwitch: nstest's OVS bridge (its own daemons,
# userspace datapath where the kernel has no openvswitch module) against
# Mininet's OVS switch (which needs the module and the system's OVS service)
# and against nstest's own Linux bridge above.
log "single,20 pingall on Open vSwitch"
ovs_single=nan ovs_start=nan mn_ovs=nan mn_ovs_note=""
if command -v ovs-vswitchd >/dev/null; then
	s20o=() starts=()
	for r in $(seq 1 3); do
		settle
		t0=$(now_ns)
		if "$tmp/nstest" run -v --topo single,20 --switch ovs >"$tmp/nstest-ovs.out" 2>"$tmp/nstest-ovs.err"; then
			s20o+=("$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN {print (b-a)/1e6}')")
			# The library logs "Open vSwitch (datapath D) started in 93ms".
			starts+=("$(sed -n 's/.*Open vSwitch (datapath [a-z]*) started in \([0-9.]*\)\(m\?s\).*/\1 \2/p' "$tmp/nstest-ovs.err" |
				awk '{print ($2 == "s") ? $1*1000 : $1}')")
		else
			log "nstest run --topo single,20 --switch ovs failed: $(tail -1 "$tmp/nstest-ovs.out")"
		fi
	done
	[ ${#s20o[@]} -gt 0 ] && ovs_single=$(printf '%s\n' "${s20o[@]}" | median)
	[ ${#starts[@]} -gt 0 ] && ovs_start=$(printf '%s\n' "${starts[@]}" | median)
else
	log "Open vSwitch not installed (apt-get install openvswitch-switch): skipped"
fi
if ! command -v mn >/dev/null; then
	mn_ovs_note="Mininet not installed"
elif ! command -v ovs-vswitchd >/dev/null; then
	mn_ovs_note="openvswitch-switch not installed"
elif ! modprobe -q openvswitch 2>/dev/null && [ ! -d /sys/module/openvswitch ]; then
	mn_ovs_note="mn --switch ovs cannot run: no openvswitch kernel module"
else
	# Mininet drives the system's OVS: start its service for the runs if
	# it is not running, and stop it again afterwards.
	ovs_started=0
	if ! ovs-vsctl --timeout=5 show >/dev/null 2>&1; then
		/usr/share/openvswitch/scripts/ovs-ctl start --system-id=random >/dev/null 2>&1 && ovs_started=1
	fi
	mn_used=1
	mnso=()
	for r in $(seq 1 3); do
		settle
		t0=$(now_ns)
		if mn --switch ovs --controller none --topo single,20 --test pingall >"$tmp/mn-ovs.out" 2>&1 &&
			grep -q 'Results: 0% dropped' "$tmp/mn-ovs.out"; then
			mnso+=("$(awk -v a="$t0" -v b="$(now_ns)" 'BEGIN {print (b-a)/1e6}')")
		else
			log "mn --switch ovs run $r failed: $(tail -1 "$tmp/mn-ovs.out")"
		fi
		mn -c >/dev/null 2>&1 || true
	done
	[ "$ovs_started" = 1 ] && /usr/share/openvswitch/scripts/ovs-ctl stop >/dev/null 2>&1
	if [ ${#mnso[@]} -gt 0 ]; then mn_ovs=$(printf '%s\n' "${mnso[@]}" | median); else mn_ovs_note="mn --switch ovs failed"; fi
fi

# The table. "x" columns: how many times faster nstest is (peer / nstest),
# except where the goal is stated as a fraction.
fmt='%-44s %12s %12s %10s  %s\n'
printf "$fmt" "measure (medians of $REPS runs)" "nstest" "peer" "ratio" "goal"
printf "$fmt" "seed cycle ms vs rawnetlink -n 2" "$seed" "$floor" "$(ratio "$seed" "$floor")" "<= 1.5 (nstest/floor)"
printf "$fmt" "seed cycle ms vs seed.sh" "$seed" "$sh_ms" "$(ratio "$sh_ms" "$seed")x" ">= 30x faster"
printf "$fmt" "1000 hosts, 4 bridges, ms vs rawnetlink" "$t1000" "$r1000" "$(ratio "$t1000" "$r1000")" "<= 0.5 (nstest/floor)"
printf "$fmt" "ms per host at 1000 vs at 10 hosts" "$per1000" "$per10" "$(ratio "$per1000" "$per10")" "<= 1.5"
printf "$fmt" "InNS us vs bare lock+setns+restore" "$inns_us" "$bare_us" "$(ratio "$inns_us" "$bare_us")" "InNS <= 10 us"
printf "$fmt" "InNS us vs ip netns exec NS true" "$inns_us" "$ipx_us" "$(ratio "$ipx_us" "$inns_us")x" ""
printf "$fmt" "nstest run --topo single,20 ms vs mn pingall" "$single" "$mn_ms" "$(ratio "$mn_ms" "$single")x" ">= 20x faster"
printf "$fmt" "single,20 --switch ovs ms vs mn --switch ovs" "$ovs_single" "${mn_ovs/nan/n\/a}" "$(ratio "$mn_ovs" "$ovs_single")x" "${mn_ovs_note:->= 10x faster}"
printf "$fmt" "single,20 --switch ovs ms vs --switch lxbr" "$ovs_single" "$single" "$(ratio "$ovs_single" "$single")" "OVS cost (nstest/nstest)"
printf "$fmt" "OVS daemons start ms per topology" "$ovs_start" "" "" ""
printf "$fmt" "peak RSS MB at 1000 hosts (maxrss)" "$mem" "" "" ""
