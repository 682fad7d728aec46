package nstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Open vSwitch bridges. Each topology that asks for one gets its own
// ovsdb-server and ovs-vswitchd, started on first use inside the fabric
// namespace with Command, so they are children of the test process, die with
// it (PR_SET_PDEATHSIG; never --detach, which re-parents them to PID 1) and
// are killed at teardown. Everything they write goes to a private temporary
// directory: OVS falls back to the system's directories (/var/run/openvswitch,
// /var/log/openvswitch, /etc/openvswitch) for any OVS_*DIR left unset, so every
// variable is set and every daemon and every ovs-vsctl, ovs-ofctl and
// ovs-appctl call is also given its sockets explicitly.

// OVS makes the bridge an Open vSwitch bridge instead of a Linux bridge, so
// that OpenFlow rules decide what it forwards (AddFlow, DelFlows, Flows). It
// starts as a learning switch: its only flow is priority=0,actions=NORMAL.
// It uses the kernel's openvswitch datapath where the module exists and OVS's
// userspace datapath (datapath_type=netdev) elsewhere. Without the Debian
// package openvswitch-switch, AddBridge skips the test, naming it.
func OVS() BridgeOption { return func(c *bridgeConfig) { c.ovs = true } }

// ovsPackage is the Debian package holding the programs.
const ovsPackage = "openvswitch-switch"

var (
	ovsPrograms = []string{"ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl", "ovs-ofctl", "ovs-appctl"}
	ovsSchema   = "/usr/share/openvswitch/vswitch.ovsschema"
)

// ovsTimeout bounds each ovs-vsctl call, which waits for ovs-vswitchd to
// apply the change (its readiness check), on a loaded machine.
const ovsTimeout = 30 * time.Second

// errMissingProgram marks a machine without the OVS programs: the test skips.
var errMissingProgram = errors.New("missing program")

// ovsSwitch is a topology's pair of OVS daemons.
type ovsSwitch struct {
	fab      *Host
	dir      string   // private: database, sockets, logs, pid files
	env      []string // OVS_*DIR pointing at dir
	datapath string   // "netdev" or "system"
	cost     time.Duration

	ctx     context.Context // cancelled, with a cause, when a daemon exits
	cancel  context.CancelCauseFunc
	daemons []*ovsDaemon
}

type ovsDaemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process is reaped
}

// getOVS returns the topology's OVS daemons, starting them on first use.
func (t *Topology) getOVS() (*ovsSwitch, error) {
	t.ovsMu.Lock()
	defer t.ovsMu.Unlock()
	if t.ovs != nil {
		return t.ovs, nil
	}
	for _, p := range ovsPrograms {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("Open vSwitch: %s not found (install the Debian package %s): %w", p, ovsPackage, errMissingProgram)
		}
	}
	if _, err := os.Stat(ovsSchema); err != nil {
		return nil, fmt.Errorf("Open vSwitch: schema %s: %v (install the Debian package %s): %w", ovsSchema, err, ovsPackage, errMissingProgram)
	}
	fab, err := t.getFabric()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	o, err := startOVS(fab)
	if err != nil {
		return nil, err
	}
	o.cost = time.Since(start)
	t.mu.Lock()
	closed := t.closed
	if !closed {
		t.undo = append(t.undo, o.stop)
	}
	t.mu.Unlock()
	if closed {
		o.stop()
		return nil, errors.New("the topology is already torn down")
	}
	t.ovs = o
	t.tb.Logf("nstest: topology %s: Open vSwitch (datapath %s) started in %v", t.name, o.datapath, o.cost.Round(time.Millisecond))
	return o, nil
}

func startOVS(fab *Host) (_ *ovsSwitch, err error) {
	sweepOVSDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", ovsDirPrefix, os.Getpid()))
	if err != nil {
		return nil, fmt.Errorf("Open vSwitch: %w", err)
	}
	o := &ovsSwitch{fab: fab, dir: dir, datapath: "netdev"}
	o.ctx, o.cancel = context.WithCancelCause(context.Background())
	defer func() {
		if err != nil {
			o.stop()
			err = fmt.Errorf("Open vSwitch: %w", err)
		}
	}()
	for _, v := range []string{"OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"} {
		o.env = append(o.env, v+"="+dir)
	}
	// The kernel datapath where the openvswitch module exists (asking for
	// its generic netlink family loads it), as ovs-vswitchd would find it.
	// A generic netlink socket: the host's handle has only a routing one,
	// so ask from inside the fabric.
	if fab.do(func() error { _, err := netlink.GenlFamilyGet("ovs_datapath"); return err }) == nil {
		o.datapath = "system"
	}

	db := o.path("conf.db")
	if _, err := o.run("ovsdb-tool", "create", db, ovsSchema); err != nil {
		return nil, err
	}
	// The root row, with userspace TSO: through the userspace datapath
	// the veths' offloaded checksums are never filled in and TCP fails,
	// unless TSO support is on, which ovs-vswitchd reads only at start.
	// Written to the file before the server opens it, so no client has to
	// wait for the server's socket.
	root := `["Open_vSwitch",{"op":"insert","table":"Open_vSwitch","row":{"other_config":["map",[["userspace-tso-enable","true"]]]}}]`
	if _, err := o.run("ovsdb-tool", "transact", db, root); err != nil {
		return nil, err
	}

	// ovs-vswitchd must not start before the database's socket exists: it
	// would retry only after a second. inotify says when it appears.
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		return nil, fmt.Errorf("inotify %s: %w", dir, err)
	}
	dbd, err := o.daemon("ovsdb-server", db,
		"--remote=punix:"+o.path("db.sock"),
		"--pidfile="+o.path("ovsdb-server.pid"),
		"--log-file="+o.path("ovsdb-server.log"),
		"--unixctl="+o.path("ovsdb-server.ctl"),
		"--no-chdir")
	if err != nil {
		return nil, err
	}
	if err := o.waitFile(in, "db.sock", dbd); err != nil {
		return nil, err
	}
	if _, err := o.daemon("ovs-vswitchd", o.dbArg(),
		"--pidfile="+o.path("ovs-vswitchd.pid"),
		"--log-file="+o.path("ovs-vswitchd.log"),
		"--unixctl="+o.ctl(),
		"--no-chdir"); err != nil {
		return nil, err
	}
	// Readiness: ovs-vsctl waits until ovs-vswitchd has applied the
	// database's configuration.
	if _, err := o.vsctl("--", "set", "Open_vSwitch", ".", "external_ids:nstest=1"); err != nil {
		return nil, err
	}
	return o, nil
}

// ovsDirPrefix starts the name of every private OVS directory, followed by
// the pid of the test process that made it.
const ovsDirPrefix = "nstest-ovs-"

// sweepOVSDirs removes the private directories of test processes that are
// gone: a process killed with SIGKILL cannot remove its own. A directory
// whose pid is in use again is left alone.
func sweepOVSDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), ovsDirPrefix+"*-*"))
	for _, d := range dirs {
		pid, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), ovsDirPrefix), "-")
		if !ok || pid == "" || strings.Trim(pid, "0123456789") != "" {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(d)
		}
	}
}

func (o *ovsSwitch) path(name string) string { return filepath.Join(o.dir, name) }
func (o *ovsSwitch) dbArg() string           { return "unix:" + o.path("db.sock") }
func (o *ovsSwitch) ctl() string             { return o.path("ovs-vswitchd.ctl") }

// mgmt is the OpenFlow management socket of bridge name.
func (o *ovsSwitch) mgmt(name string) string { return "unix:" + o.path(name+".mgmt") }

// daemon starts an OVS daemon in the fabric, its output going to a file of
// the private directory, and watches for its exit.
func (o *ovsSwitch) daemon(name string, arg ...string) (*ovsDaemon, error) {
	out, err := os.Create(o.path(name + ".out"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := o.fab.Command(name, arg...)
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &ovsDaemon{name: name, cmd: cmd, done: make(chan struct{})}
	o.daemons = append(o.daemons, d)
	go func() {
		err := cmd.Wait()
		close(d.done)
		o.cancel(fmt.Errorf("%s exited (%v)%s", name, err, o.logTail(name)))
	}()
	return d, nil
}

// waitFile waits until file appears in the private directory, or daemon d
// exits.
func (o *ovsSwitch) waitFile(in int, file string, d *ovsDaemon) error {
	pidfd, err := unix.PidfdOpen(d.cmd.Process.Pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd of %s: %w", d.name, err)
	}
	defer unix.Close(pidfd)
	deadline := time.Now().Add(ovsTimeout)
	buf := make([]byte, 4096)
	for {
		if _, err := os.Stat(o.path(file)); err == nil {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%s did not create %s within %v%s", d.name, file, ovsTimeout, o.logTail(d.name))
		}
		fds := []unix.PollFd{{Fd: int32(in), Events: unix.POLLIN}, {Fd: int32(pidfd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && err != unix.EINTR {
			return fmt.Errorf("wait for %s: %w", file, err)
		}
		if fds[1].Revents != 0 {
			<-d.done
			return context.Cause(o.ctx)
		}
		for {
			if _, err := unix.Read(in, buf); err != nil {
				break // drained; look at the directory again
			}
		}
	}
}

// logTail returns the last lines of a daemon's log and output, for errors.
func (o *ovsSwitch) logTail(name string) string {
	var lines []string
	for _, f := range []string{name + ".log", name + ".out"} {
		b, err := os.ReadFile(o.path(f))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" && (strings.Contains(l, "|ERR|") || strings.Contains(l, "|EMER|") || strings.Contains(l, "|WARN|") || !strings.Contains(l, "|")) {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	if len(lines) == 0 {
		return ""
	}
	return "; it said: " + strings.Join(lines, " / ")
}

// run runs an OVS program in the fabric and returns its standard output.
// A failure quotes what the program wrote to standard error, or why it was
// stopped (a daemon exited).
func (o *ovsSwitch) run(name string, arg ...string) (string, error) {
	cmd := o.fab.CommandContext(o.ctx, name, arg...)
	cmd.Env = append(os.Environ(), o.env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if cause := context.Cause(o.ctx); cause != nil {
			return "", fmt.Errorf("%s: %w", name, cause)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%s said: %s", name, strings.ReplaceAll(msg, "\n", " / "))
	}
	return stdout.String(), nil
}

// vsctl runs ovs-vsctl against this instance's database; it waits for
// ovs-vswitchd to apply the change.
func (o *ovsSwitch) vsctl(arg ...string) (string, error) {
	return o.run("ovs-vsctl", append([]string{"--db=" + o.dbArg(), fmt.Sprintf("--timeout=%d", int(ovsTimeout.Seconds()))}, arg...)...)
}

// ofctl runs an ovs-ofctl command on bridge name's management socket.
func (o *ovsSwitch) ofctl(cmd, name string, arg ...string) (string, error) {
	return o.run("ovs-ofctl", append([]string{cmd, o.mgmt(name)}, arg...)...)
}

// purge makes new OpenFlow rules hold at once: ovs-ofctl returns while the
// datapath's flow cache still forwards with the old rules for a while.
func (o *ovsSwitch) purge() error {
	_, err := o.run("ovs-appctl", "-t", o.ctl(), "revalidator/purge")
	return err
}

// stop kills the daemons, reaps them and removes the private directory.
func (o *ovsSwitch) stop() {
	for _, d := range o.daemons {
		d.cmd.Process.Kill()
	}
	for _, d := range o.daemons {
		<-d.done
	}
	o.cancel(errors.New("the topology is torn down"))
	os.RemoveAll(o.dir)
}

// makeOVSBridge adds bridge name to the topology's OVS and brings its own
// interface up in the fabric.
func (t *Topology) makeOVSBridge(name string) (*Bridge, error) {
	o, err := t.getOVS()
	if err != nil {
		return nil, err
	}
	if _, err := o.vsctl("add-br", name, "--", "set", "bridge", name, "datapath_type="+o.datapath); err != nil {
		return nil, fmt.Errorf("add OVS bridge: %w", err)
	}
	var l netlink.Link
	err = o.fab.use(func() (err error) {
		if l, err = o.fab.nl.LinkByName(name); err == nil {
			err = o.fab.nl.LinkSetUp(l)
		}
		return err
	})
	if err != nil {
		o.vsctl("--if-exists", "del-br", name)
		return nil, fmt.Errorf("OVS bridge's interface: %w", err)
	}
	return &Bridge{topo: t, name: name, index: l.Attrs().Index, ovs: o}, nil
}

// addPort adds the fabric interface port to the OVS bridge.
func (b *Bridge) addPort(port *Interface) error {
	if _, err := b.ovs.vsctl("add-port", b.name, port.name); err != nil {
		return fmt.Errorf("add port %s to OVS bridge %q: %w", port.name, b.name, err)
	}
	port.mu.Lock()
	port.ovs = b.ovs
	port.mu.Unlock()
	return nil
}

// ovsPort reports whether the interface is a port of an OVS bridge.
func (i *Interface) ovsPort() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.ovs != nil
}

// onUserspaceOVS reports whether the interface is a port of an OVS bridge
// with the userspace datapath.
func (i *Interface) onUserspaceOVS() bool {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.ovs != nil && i.ovs.datapath == "netdev"
}

// notOVS is the error of the OpenFlow methods on a Linux bridge.
func (b *Bridge) notOVS(what string) error {
	return fmt.Errorf("nstest: bridge %q: %s: not an Open vSwitch bridge (make it with AddBridge(name, nstest.OVS()))", b.name, what)
}

// IsOVS reports whether the bridge is an Open vSwitch bridge (see OVS).
func (b *Bridge) IsOVS() bool { return b.ovs != nil }

// AddFlow adds an OpenFlow rule to the Open vSwitch bridge, in the syntax of
// ovs-ofctl add-flow, such as "priority=100,tcp,tp_dst=80,actions=drop". Ports
// may be named by their interface names (the Peer of an Interface made by
// Connect). The rule is in force when AddFlow returns. An error quotes what
// ovs-ofctl said; on a Linux bridge AddFlow returns an error.
func (b *Bridge) AddFlow(flow string) error {
	return b.changeFlows("add flow", "add-flow", flow)
}

// DelFlows deletes the OpenFlow rules of the Open vSwitch bridge that match
// match, as ovs-ofctl del-flows does (not strict: every rule at least as
// specific is removed; "" removes all of them, the default NORMAL rule
// included, so that the bridge forwards nothing). The change is in force
// when DelFlows returns.
func (b *Bridge) DelFlows(match string) error {
	if match == "" {
		return b.changeFlows("delete flows", "del-flows")
	}
	return b.changeFlows("delete flows", "del-flows", match)
}

func (b *Bridge) changeFlows(what, cmd string, arg ...string) error {
	if len(arg) > 0 {
		what += " " + fmt.Sprintf("%q", arg[0])
	}
	if b.ovs == nil {
		return b.notOVS(what)
	}
	if err := b.topo.checkOpen(); err != nil {
		return fmt.Errorf("nstest: bridge %q: %s: %w", b.name, what, err)
	}
	if _, err := b.ovs.ofctl(cmd, b.name, arg...); err != nil {
		return fmt.Errorf("nstest: bridge %q: %s: %w", b.name, what, err)
	}
	if err := b.ovs.purge(); err != nil {
		return fmt.Errorf("nstest: bridge %q: %s: flush the datapath's flow cache: %w", b.name, what, err)
	}
	return nil
}

// Flows returns the OpenFlow rules of the Open vSwitch bridge as ovs-ofctl
// dump-flows prints them, one per rule, with their packet and byte counters:
// "cookie=0x0, duration=1.2s, table=0, n_packets=4, n_bytes=392,
// idle_age=0, priority=0 actions=NORMAL".
func (b *Bridge) Flows() ([]string, error) {
	if b.ovs == nil {
		return nil, b.notOVS("flows")
	}
	if err := b.topo.checkOpen(); err != nil {
		return nil, fmt.Errorf("nstest: bridge %q: flows: %w", b.name, err)
	}
	// The counters of the rules are brought up to date by the revalidators'
	// rounds, every half second or so: wait for one.
	if _, err := b.ovs.run("ovs-appctl", "-t", b.ovs.ctl(), "revalidator/wait"); err != nil {
		return nil, fmt.Errorf("nstest: bridge %q: flows: update counters: %w", b.name, err)
	}
	out, err := b.ovs.ofctl("dump-flows", b.name)
	if err != nil {
		return nil, fmt.Errorf("nstest: bridge %q: flows: %w", b.name, err)
	}
	var flows []string
	for _, l := range strings.Split(out, "\n") {
		// The first line is the reply's header ("NXST_FLOW reply (xid=0x4):").
		if strings.HasPrefix(l, " ") && strings.TrimSpace(l) != "" {
			flows = append(flows, strings.TrimSpace(l))
		}
	}
	return flows, nil
}

// ovsPorts returns the OpenFlow port numbers and names of the bridge, as
// `ovs-ofctl show` lists them ("1(h1-eth0)").
func (b *Bridge) ovsPorts() ([]string, error) {
	out, err := b.ovs.ofctl("show", b.name)
	if err != nil {
		return nil, err
	}
	var ports []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && strings.HasPrefix(f[1], "addr:") && strings.HasSuffix(f[0], "):") {
			ports = append(ports, strings.TrimSuffix(f[0], ":"))
		}
	}
	return ports, nil
}

// checkOpen reports an error once the topology is torn down.
func (t *Topology) checkOpen() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrClosed
	}
	return nil
}
