#!/usr/bin/env bash
# The kernel lane: the test suite on Debian's own kernel, in a VM.
#
# This machine's kernel lacks netem, bridge VLAN filtering, 802.1Q, dummy,
# bonding, vrf, wireguard, openvswitch..., so the code paths that use them
# would never run here. This script boots Debian's cloud kernel
# (linux-image-cloud-amd64, which has all of them as modules) under QEMU TCG
# with an initramfs holding:
#   - a static test binary (CGO_ENABLED=0 go test -c) of every package of the
#     module that has tests (ci/ excepted), and the repository's files
#     (fixtures, testdata, the Go sources some tests read) so each binary
#     runs from its package directory;
#   - busybox (also /sbin/modprobe, so the kernel autoloads modules) and the
#     kernel's networking modules with their dependencies;
#   - the programs the tests cross-check with (ip, tc, ping, tcpdump, nft, and
#     every other program the Go sources run by a literal name: Open vSwitch,
#     python3, erl, dnsmasq, iperf3, dot...), with their Debian packages'
#     files (the Python standard library, the Erlang tree, OVS's schema),
#     their shared libraries and the dynamic loader.
# The VM's init (ci/kernels/init) runs every binary with -test.v and streams
# the output back over the serial console. The script exits non-zero if any
# test fails, if a binary does not report, or if the VM does not finish in
# time; it ends with a summary per package and the tests that still skip.
#
# Run as root: sudo ci/kernels.sh. It changes nothing on the machine but its
# cache directory (and installs qemu-system-x86 with apt-get when QEMU is
# missing). The kernel and busybox are fetched with apt-get download and
# unpacked there, never installed.
#
# Environment:
#   NSTEST_KERNELS_CACHE    cache directory (default: .cache/kernels in the repository, gitignored)
#   NSTEST_KERNELS_PKGS     packages to test (default: every package with tests but ./ci/...)
#   NSTEST_KERNELS_RUN      a -test.run pattern (default: all tests)
#   NSTEST_KERNELS_TIMEOUT  per binary, in seconds (default 300)
#   NSTEST_KERNELS_VM_TIMEOUT  the whole VM, in seconds (default 900)
#   NSTEST_KERNELS_MEM, NSTEST_KERNELS_CPUS  the VM's memory (default 1536M) and vCPUs (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
t0=$(date +%s.%N)
phase_start=$t0
declare -a phases=()
phase() { # phase NAME: record the time since the previous phase
	local now; now=$(date +%s.%N)
	phases+=("$(awk -v a="$phase_start" -v b="$now" -v n="$1" 'BEGIN { printf "%-40s %6.1f s", n, b - a }')")
	phase_start=$now
}
log() { echo "kernels.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	log "run as root (sudo ci/kernels.sh): the VM's tests need root inside, and apt-get download/QEMU setup too"
	exit 2
fi

cache=${NSTEST_KERNELS_CACHE:-$repo/.cache/kernels}
per_bin_timeout=${NSTEST_KERNELS_TIMEOUT:-300}
vm_timeout=${NSTEST_KERNELS_VM_TIMEOUT:-900}
mem=${NSTEST_KERNELS_MEM:-1536M}
cpus=${NSTEST_KERNELS_CPUS:-2}
mkdir -p "$cache/debs"

# ---- host tools ------------------------------------------------------------
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v lz4 >/dev/null 2>&1 || need+=(lz4)
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- kernel and busybox: apt-get download + dpkg-deb -x into the cache ------
# fetch PACKAGE: prints the directory where PACKAGE (a concrete package name)
# is unpacked, downloading and unpacking it once.
fetch() {
	local pkg=$1 dir=$cache/pkgs/$1
	if [ ! -e "$dir/.done" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		if ! (cd "$cache/debs" && apt-get download -q "$pkg" >/dev/null 2>&1); then
			apt-get update -qq
			(cd "$cache/debs" && apt-get download -q "$pkg" >/dev/null)
		fi
		dpkg-deb -x "$(ls -t "$cache"/debs/"${pkg}"_*.deb | head -1)" "$dir"
		touch "$dir/.done"
	fi
	echo "$dir"
}
# The metapackage names the current kernel package (linux-image-6.1.0-N-cloud-amd64).
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
if [ -z "$kpkg" ]; then
	# Offline or no package lists: use the newest kernel already in the cache.
	kpkg=$(ls -t "$cache/pkgs" 2>/dev/null | grep '^linux-image-.*-cloud-amd64$' | head -1 || true)
fi
if [ -z "$kpkg" ]; then
	apt-get update -qq
	kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ {print $2; exit}')
fi
kdir=$(fetch "$kpkg")
bbdir=$(fetch busybox-static)
kver=${kpkg#linux-image-}
vmlinuz=$kdir/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || { log "no kernel at $vmlinuz"; exit 1; }
busybox=$bbdir/bin/busybox
phase "fetch kernel, busybox"

# ---- the programs the tests run --------------------------------------------
# Every literal program name the Go sources run or look for (Command,
# CommandContext, LookPath, StartService, needProgram, and lists such as
# ovsPrograms), plus the cross-check tools. Each goes into the image with its
# Debian package's files, its shared libraries and, for a script, its
# interpreter (see "Programs" below).
mapfile -t progs < <(
	{
		printf '%s\n' ip tc ping tcpdump nft nsenter unshare setpriv bridge
		grep -rhoE '(Command|CommandContext|LookPath)\((ctx, |context\.[A-Za-z]+\(\), )?"[A-Za-z0-9._+-]+"' \
			--include='*.go' --exclude-dir=.git --exclude-dir=.cache . |
			sed -E 's/.*"([^"]+)"$/\1/'
		grep -rhoE '(needProgram\(t, |StartService\(\[\]string\{)"[A-Za-z0-9._+-]+"' \
			--include='*.go' --exclude-dir=.git --exclude-dir=.cache . |
			sed -E 's/.*"([^"]+)"$/\1/'
		grep -rhE '^\s*[A-Za-z]*Programs\s*=\s*\[\]string\{' \
			--include='*.go' --exclude-dir=.git --exclude-dir=.cache . |
			grep -oE '"[A-Za-z0-9._+-]+"' | tr -d '"'
	} | sort -u | grep -vxE 'go|perl|sh|bash|busybox'
)
# busybox's applets linked in the image (init, the tests' shell lines and
# erl's script use them); these names are not taken from this machine.
# Anything else, a busybox ip or ping, would stand in for the real program
# and answer differently when run directly. (Debian's busybox-static prefers
# its applets in its own sh whatever the PATH: a shell line gets busybox's
# version of any applet, so the tests' shell lines use only sleep, echo,
# setsid and the like.)
applets=(sh ash cat cp mv rm ls mkdir mount umount sleep echo timeout poweroff reboot sync
	dmesg hostname ifconfig awk cut grep sed tr head tail wc nproc uname true false env id
	ps kill chmod ln readlink stat sort uniq test '[' printf date touch dirname basename)
# The guest's PATH (ci/kernels/init): programs are looked up there, not in
# this shell's PATH, which may hold shims (pyenv) or a Go toolchain.
vm_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# Packages whose files a program needs at run time beyond its own package and
# its shared libraries, as "PACKAGE REGEX": the Depends of PACKAGE are
# followed into the installed packages whose names match REGEX. python3: the
# interpreter's standard library (libpython3.X-stdlib, which http.server is
# in); the package named in the tests' needProgram.
runtime_deps=('python3 ^(lib)?python3(\.[0-9]+)?(-minimal|-stdlib)?$')
# Graphviz plugins dot needs for the formats the tests render (svg: core),
# without the ones that pull in cairo, pango, X11 and image codecs.
gv_plugins=(core dot_layout neato_layout)

# ---- base image: busybox, modules, programs (cached by content) -------------
# The networking modules. Their dependencies (crypto, lib, ...) come from
# modules.dep. What the tests create is autoloaded by the kernel through
# /sbin/modprobe.
mod_globs=(
	net/8021q net/802 net/llc net/bridge net/core net/ipv4 net/ipv6 net/netfilter
	net/sched net/openvswitch net/packet net/psample net/nsh net/mpls net/xfrm net/key
	net/unix net/netlink net/ife net/l2tp net/mptcp net/tls
	drivers/net/dummy.ko drivers/net/ifb.ko drivers/net/macvlan.ko drivers/net/macvtap.ko
	drivers/net/tap.ko drivers/net/veth.ko drivers/net/vrf.ko drivers/net/geneve.ko
	drivers/net/ipvlan drivers/net/macsec.ko drivers/net/tun.ko drivers/net/team
	drivers/net/vxlan drivers/net/wireguard drivers/net/bonding drivers/net/nlmon.ko
)
prog_paths=()
missing=()
while [ ${#progs[@]} -gt 0 ]; do
	p=${progs[0]}
	progs=("${progs[@]:1}")
	case " ${applets[*]} " in *" $p "*) continue ;; esac
	path=$(PATH=$vm_path && type -P "$p" 2>/dev/null || true)
	case "$path" in /*) ;; *) missing+=("$p"); continue ;; esac
	case " ${prog_paths[*]} " in *" $path "*) continue ;; esac
	prog_paths+=("$path")
	# A script (erl) also needs its interpreter; /bin/sh is busybox's.
	real=$(readlink -f "$path")
	if [ "$(head -c2 "$real")" = '#!' ]; then
		read -r interp arg _ < <(head -1 "$real" | cut -c3-)
		case "$interp" in
		/bin/sh) ;;
		*/env) progs+=("$arg") ;;
		*) progs+=("$interp") ;;
		esac
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	# The image takes programs from this machine; ci/test.sh installs the
	# cross-check tools (iproute2, iputils-ping, tcpdump, nftables).
	log "not on this machine, so not in the VM either (their tests skip there): ${missing[*]}"
fi
base_key=$( {
	echo "$kpkg"; ls "$cache/debs"
	cat ci/kernels.sh ci/kernels/init
	for p in "${prog_paths[@]}"; do stat -Lc '%n %s %Y' "$p"; done
	# Any package installed or upgraded here (a Python or OVS update).
	stat -c '%Y' /var/lib/dpkg/status
} | sha256sum | cut -c1-16)
base=$cache/base-$base_key.cpio.lz4
if [ ! -s "$base" ]; then
	rm -f "$cache"/base-*.cpio.lz4
	root=$cache/work/base
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,tests,src,lib/modules}
	cp "$busybox" "$root/bin/busybox"
	for a in "${applets[@]}"; do
		ln -s busybox "$root/bin/$a"
	done
	ln -s ../bin/busybox "$root/sbin/modprobe"
	ln -s ../bin/busybox "$root/sbin/insmod"
	ln -s ../bin/busybox "$root/sbin/lsmod"
	cp ci/kernels/init "$root/init"
	chmod 755 "$root/init"
	chmod 1777 "$root/tmp"
	cat >"$root/etc/passwd" <<-'EOT'
		root:x:0:0:root:/root:/bin/sh
		tcpdump:x:100:101::/nonexistent:/bin/false
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOT
	cat >"$root/etc/group" <<-'EOT'
		root:x:0:
		tcpdump:x:101:
		nogroup:x:65534:
	EOT
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	echo nstest-vm >"$root/etc/hostname"
	: >"$root/etc/resolv.conf"
	printf 'passwd: files\ngroup: files\nhosts: files\n' >"$root/etc/nsswitch.conf"
	# Programs print protocol and port names from these (nft: "meta l4proto tcp").
	for f in /etc/protocols /etc/services; do if [ -f "$f" ]; then cp "$f" "$root$f"; fi; done

	# Modules: the chosen ones, closed over modules.dep.
	kmods=$kdir/lib/modules/$kver
	gmods=$root/lib/modules/$kver
	mkdir -p "$gmods"
	cp "$kmods"/modules.builtin "$kmods"/modules.builtin.modinfo "$kmods"/modules.order "$gmods"/
	"$busybox" depmod -b "$kdir" "$kver" 2>/dev/null || depmod -b "$kdir" "$kver"
	(cd "$kmods" && for g in "${mod_globs[@]}"; do
		if [ -e "kernel/$g" ]; then find "kernel/$g" -name '*.ko*'; fi
	done) | sort -u >"$cache/work/mods.want"
	# modules.dep lines: "kernel/a.ko: kernel/b.ko kernel/c.ko"
	awk -F': *' 'NR == FNR { want[$1] = 1; next }
		($1 in want) { print $1; n = split($2, d, " "); for (i = 1; i <= n; i++) print d[i] }' \
		"$cache/work/mods.want" "$kmods/modules.dep" | sort -u | while read -r m; do
		mkdir -p "$gmods/$(dirname "$m")"
		cp "$kmods/$m" "$gmods/$m"
	done
	"$busybox" depmod -b "$root" "$kver"
	# Loading these makes devices in the VM's own namespace (dummy0, bond0,
	# ifb0), which the suites' root-namespace checks would blame on the tests.
	mkdir -p "$root/etc/modprobe.d"
	printf 'options dummy numdummies=0\noptions bonding max_bonds=0\noptions ifb numifbs=0\n' >"$root/etc/modprobe.d/nstest.conf"
	# Modules the tests load concurrently on first use. Two requests racing
	# for one module can fail the second (modprobe returns while the first
	# is still initialising it: nf_tables answered EINVAL), so init loads
	# them up front; the rest autoload.
	{
		printf '%s\n' nf_tables nfnetlink nf_conntrack nf_nat sch_netem sch_tbf sch_htb veth bridge 8021q \
			vxlan macvlan dummy
		(cd "$kmods/kernel/net" && find . -name 'nft_*.ko' -exec basename {} .ko \;)
	} | sort -u | while read -r m; do
		if grep -q "/$m.ko:" "$gmods/modules.dep"; then echo "$m"; fi
	done >"$root/etc/kernels-preload"

	# Programs, their Debian package's data files, their libraries and the loader.
	copy() { # copy PATH...: into the image at the same path, symlinks kept and followed
		local f t
		for f in "$@"; do
			[ -e "$f" ] || continue
			if [ -e "$root$f" ] || [ -L "$root$f" ]; then continue; fi
			mkdir -p "$root$(dirname "$f")"
			if [ -L "$f" ]; then
				# One link at a time: /usr/sbin/ovs-vswitchd ->
				# /etc/alternatives/ovs-vswitchd -> /usr/lib/...
				cp -P "$f" "$root$f"
				t=$(readlink "$f")
				case "$t" in /*) ;; *) t=$(realpath -s -m "$(dirname "$f")/$t") ;; esac
				copy "$t"
			elif [ -f "$f" ]; then
				# -p: Python trusts a compiled module only if its
				# source keeps its modification time.
				cp -p "$f" "$root$f"
			fi
		done
	}
	# owner PATH: the installed package holding PATH.
	owner() { dpkg -S "$1" 2>/dev/null | head -1 | cut -d: -f1 || true; }
	# closure PACKAGE REGEX: PACKAGE and the installed packages reached from
	# it through Depends and Pre-Depends whose names match REGEX.
	closure() {
		local -A seen=()
		local q=("$1") p d a
		while [ ${#q[@]} -gt 0 ]; do
			p=${q[0]} q=("${q[@]:1}")
			[ -z "${seen[$p]:-}" ] || continue
			[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || continue
			seen[$p]=1
			echo "$p"
			while read -r d; do
				for a in ${d//|/ }; do
					a=${a%%:*}
					if [[ $a =~ $2 ]] && [ "$(dpkg-query -W -f='${db:Status-Status}' "$a" 2>/dev/null)" = installed ]; then
						q+=("$a")
						break
					fi
				done
			done < <(dpkg-query -W -f='${Depends}, ${Pre-Depends}\n' "$p" | sed -E 's/\([^)]*\)//g' | tr ',' '\n')
		done
	}
	declare -A want_pkgs=()
	for p in "${prog_paths[@]}"; do
		copy "$p"
		# /usr/sbin/ip and /sbin/ip: usrmerge makes both names resolve.
		real=$(readlink -f "$p")
		copy "$real"
		for o in "$(owner "$real")" "$(owner "$p")"; do
			if [ -n "$o" ]; then want_pkgs[$o]=1; fi
		done
	done
	for r in "${runtime_deps[@]}"; do
		read -r rpkg rre <<<"$r"
		case " ${prog_paths[*]} " in */"$rpkg "*) ;; *) continue ;; esac
		for o in $(closure "$rpkg" "$rre"); do want_pkgs[$o]=1; done
	done
	# Each program's package's files (OVS's schema, the Erlang tree, the
	# Python standard library), without documentation and without the
	# package's other programs (graphviz's image tools would bring image
	# codecs): only those the tests run, copied above.
	for pkg in "${!want_pkgs[@]}"; do
		dpkg -L "$pkg" 2>/dev/null |
			grep -vE '^/usr/share/(doc|man|locale|lintian|bash-completion|zsh|info)/|^(/usr)?/s?bin/' |
			while read -r f; do if [ -f "$f" ]; then copy "$f"; fi; done
	done
	# Python's compiled modules, which its packages make when installed
	# (not in dpkg -L): without them every interpreter start compiles what
	# it imports, slowly under TCG.
	(cd "$root" && find . -name '*.py' -path '*/python3*') | while read -r f; do
		f=${f#.}
		base=${f##*/}
		for c in "${f%/*}/__pycache__/${base%.py}".cpython-*.pyc; do
			case "$c" in *.opt-*) ;; *) if [ -f "$c" ]; then copy "$c"; fi ;; esac
		done
	done
	# Graphviz finds its renderers and layouts as plugins listed in
	# config6a, written by dot -c when the package is installed: keep the
	# chosen plugins (libgvc6, which dot's link points into, brought them
	# all) and write the list of exactly those.
	gvc=$(if [ -e "$root/usr/bin/dot" ]; then ldd /usr/bin/dot | awk '/libgvc\.so/ { print $3 }'; fi)
	if [ -n "$gvc" ]; then
		gvdir=$(dirname "$(readlink -f "$gvc")")/graphviz
		rm -f "$root$gvdir"/libgvplugin_* "$root$gvdir"/config*
		for g in "${gv_plugins[@]}"; do copy "$gvdir"/libgvplugin_"$g".so.*; done
		GVBINDIR=$root$gvdir /usr/bin/dot -c || log "dot -c failed: dot will find no plugins in the VM"
	fi
	# The shared libraries of every program and library in the image, the
	# loader included (plugins and Python's extension modules too).
	(cd "$root" && find . -path ./lib/modules -prune -o -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) -print) |
		while read -r f; do
			f=${f#.}
			if [ "$(head -c4 "$f" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; then echo "$f"; fi
		done | xargs -r ldd 2>/dev/null | awk '/=> \// { print $3 } /^\t\/.* \(0x/ { print $1 }' | sort -u |
		while read -r lib; do copy "$lib"; done
	# usrmerge: /lib, /lib64, /bin and /sbin are links into /usr on the host;
	# in the image /bin and /sbin hold busybox, so programs go under /usr and
	# the loader's path must resolve.
	for d in lib lib64; do
		if [ -d "$root/$d" ] && [ -d "$root/usr/$d" ]; then
			cp -a "$root/usr/$d/." "$root/$d/"
			rm -rf "$root/usr/$d"
			ln -s "../$d" "$root/usr/$d"
		elif [ -d "$root/usr/$d" ]; then
			mv "$root/usr/$d" "$root/$d"
			ln -s "../$d" "$root/usr/$d"
		fi
	done
	(cd "$root" && find . -mindepth 1 | "$busybox" cpio -o -H newc 2>/dev/null) | lz4 -l -1 -q >"$base.tmp"
	mv "$base.tmp" "$base"
	log "base image $(du -h "$base" | cut -f1): ${#prog_paths[@]} programs, $(wc -l <"$cache/work/mods.want") modules chosen"
	rm -rf "$root"
fi
phase "base image (busybox, modules, programs)"

# ---- test binaries ------------------------------------------------------------
work=$cache/work/run
rm -rf "$work"
mkdir -p "$work/tests" "$work/src"
if [ -n "${NSTEST_KERNELS_PKGS:-}" ]; then
	read -r -a pkgs <<<"$NSTEST_KERNELS_PKGS"
else
	mapfile -t pkgs < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}' ./... | sed "s|^$repo|.|" | grep -v '^\./ci\(/\|$\)')
fi
: >"$work/tests/list"
for p in "${pkgs[@]}"; do
	dir=${p#./}
	[ -n "$dir" ] || dir=.
	bin=$(echo "$dir" | tr / _).test
	mkdir -p "$work/src/$dir"
	CGO_ENABLED=0 go test -c -ldflags='-s -w' -o "$work/tests/$bin" "./$dir"
	# A package whose tests are all in other build tags gives no binary.
	if [ -f "$work/tests/$bin" ]; then echo "$dir $bin" >>"$work/tests/list"; fi
done
# The CLI's tests run the nstest command; there is no go toolchain in the VM
# to build it, so it goes in prebuilt (see cmd/nstest/main_test.go).
CGO_ENABLED=0 go build -ldflags='-s -w' -o "$work/tests/nstest" ./cmd/nstest
phase "build test binaries"

# The repository's files (fixtures, testdata, and the Go sources, which
# TestEveryAssertHasARequire parses): tests read them relative to their
# package directory. About 1 MB.
git ls-files --cached --others --exclude-standard | grep -v '^\.' | while read -r f; do
	if [ ! -f "$f" ]; then continue; fi
	mkdir -p "$work/src/$(dirname "$f")"
	cp "$f" "$work/src/$f"
done
initrd=$cache/work/initrd.img
(cd "$work" && find tests src -mindepth 0 | "$busybox" cpio -o -H newc 2>/dev/null) | lz4 -l -1 -q >"$cache/work/tests.cpio.lz4"
cat "$base" "$cache/work/tests.cpio.lz4" >"$initrd"
phase "pack initramfs ($(du -h "$initrd" | cut -f1))"

# ---- boot ---------------------------------------------------------------------
console=$cache/work/console.log
append="console=ttyS0 quiet loglevel=3 panic=-1 random.trust_cpu=on nstest.timeout=$per_bin_timeout"
if [ -n "${NSTEST_KERNELS_RUN:-}" ]; then append+=" nstest.run=$NSTEST_KERNELS_RUN"; fi
log "booting $kpkg under QEMU TCG ($cpus vCPUs, $mem), $(wc -l <"$work/tests/list") test binaries"
set +e
# Nested KVM fails on this machine ("emulation failure"), so plain TCG.
timeout --foreground -s KILL "$vm_timeout" qemu-system-x86_64 \
	-accel tcg,thread=multi -cpu max -smp "$cpus" -m "$mem" \
	-bios /usr/share/qemu/qboot.rom -nographic -no-reboot -nic none \
	-kernel "$vmlinuz" -initrd "$initrd" -append "$append" </dev/null |
	sed -u 's/\r$//' | tee "$console"
qrc=${PIPESTATUS[0]}
set -e
phase "boot and run tests in the VM"

# ---- summary ------------------------------------------------------------------
echo
echo "== kernel lane summary ($kpkg)"
status=0
if [ "$qrc" = 137 ]; then
	echo "FAIL: the VM did not finish within $vm_timeout s (NSTEST_KERNELS_VM_TIMEOUT)"
	status=1
elif ! grep -q '^##kernels## done' "$console"; then
	echo "FAIL: the VM stopped before its init finished (QEMU exit $qrc)"
	status=1
fi
while read -r dir bin; do
	if ! grep -q "^##kernels## end $dir rc=" "$console"; then
		printf '%-22s %s\n' "$dir" "FAIL: did not report"
		status=1
	fi
done <"$work/tests/list"
awk '
	/^##kernels## begin / { pkg = $3; cur = ""; next }
	/^##kernels## end / {
		split($4, a, "="); rc = a[2]; split($5, s, "="); split($6, e, "=")
		printf "%-22s %-4s %3d passed, %d failed, %d skipped  (%.0f s)\n", pkg, rc == 0 ? "ok" : "FAIL", pass[pkg], fail[pkg], skip[pkg], e[2] - s[2]
		if (rc != 0) bad = 1
		pkg = ""; next
	}
	pkg == "" { next }
	# With -test.v a test'"'"'s log lines follow "=== RUN/CONT/NAME Test..." and
	# come before its "--- SKIP"; the reason is the last one it logged.
	/^=== (RUN|CONT|NAME) / { cur = $3; next }
	/^ *--- PASS: / { pass[pkg]++; next }
	/^ *--- FAIL: / { fail[pkg]++; failed[++nf] = pkg " " $3; next }
	/^ *--- SKIP: / {
		skip[pkg]++; k = pkg " " $3; r = last[k]
		skipped[++ns] = (r ~ /CONFIG_/ ? "[kernel] " : "") k ": " r
		if (r ~ /CONFIG_/) nk++
		next
	}
	# nstest logs "Open vSwitch (datapath system) started" per topology.
	/Open vSwitch \(datapath [a-z]+\) started/ {
		dp = $0; sub(/.*Open vSwitch \(datapath /, "", dp); sub(/\).*/, "", dp); ovs[dp]++
	}
	cur != "" && /^ +[^ ]+\.go:[0-9]+: / {
		line = $0; sub(/^ +[^ ]+\.go:[0-9]+: /, "", line); last[pkg " " cur] = line
	}
	END {
		printf "\nOpen vSwitch datapath in the VM:"
		n = 0
		for (dp in ovs) { printf " %s (%d topologies)", dp, ovs[dp]; n++ }
		if (n == 0) printf " none started (every OVS test skipped or was not run)"
		if ("netdev" in ovs) printf "; netdev is the userspace fallback: the kernel datapath was not found"
		printf "\n"
		if (nf) { print "\nfailed tests:"; for (i = 1; i <= nf; i++) print "  " failed[i] }
		if (ns) { print "\ntests that skip in the VM, with their reason:"; for (i = 1; i <= ns; i++) print "  " skipped[i] }
		if (nk) print "\n" nk " skip(s) for a kernel feature ([kernel]): the goal is none; add the module to mod_globs in ci/kernels.sh"
		exit bad
	}' "$console" || status=1
echo
echo "time:"
printf '  %s\n' "${phases[@]}"
awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "  %-40s %6.1f s\n", "total", b - a }'
if [ "$status" = 0 ]; then echo "kernel lane: PASS"; else echo "kernel lane: FAIL"; fi
exit "$status"
