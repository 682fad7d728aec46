package nstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sync"

	"github.com/nstest/harness/internal/ns"
	"github.com/nstest/harness/internal/nsexec"
	"github.com/nstest/harness/nstest/ping"
)

// hostProcs is what a host needs to run programs: its init, the first
// process of the host's PID namespace, started by the first Command,
// CommandContext, InNS or Do (the library's own switches into the host never
// start one, so hosts that run nothing cost no process).
type hostProcs struct {
	mu     sync.Mutex
	closed bool
	init   *nsexec.Init
	ctx    context.Context // done when the host is torn down
	cancel context.CancelCauseFunc
}

// procInit returns the host's init, starting it if needed, and a context
// that ends with the host.
func (h *Host) procInit() (*nsexec.Init, context.Context, error) {
	p := &h.procs
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, h.closedErr()
	}
	if p.init == nil {
		i, err := nsexec.StartInit(h.ns.File(), h.name)
		if err != nil {
			return nil, nil, fmt.Errorf("nstest: host %q: %w", h.name, err)
		}
		p.init = i
		p.ctx, p.cancel = context.WithCancelCause(context.Background())
	}
	return p.init, p.ctx, nil
}

func (h *Host) closedErr() error {
	return fmt.Errorf("host %q: %w", h.name, ErrClosed)
}

// command makes the exec.Cmd of Command (ctx nil) and CommandContext.
func (h *Host) command(ctx context.Context, name string, arg []string) *exec.Cmd {
	h.topo.ready()
	init, hctx, err := h.procInit()
	if err != nil {
		cmd := exec.Command(name, arg...)
		cmd.Err = err
		return cmd
	}
	// The command's context ends with the host too, so that Start refuses
	// to run a command of a torn-down host, saying so.
	cctx := hctx
	if ctx != nil {
		c, cancel := context.WithCancelCause(ctx)
		stop := context.AfterFunc(hctx, func() { cancel(context.Cause(hctx)) })
		context.AfterFunc(c, func() { stop() })
		cctx = c
	}
	cmd := init.Command(cctx, func() []byte { return h.topo.etcHosts(h) }, name, arg...)
	if ctx == nil {
		// Command has no context to obey: teardown stops it through the
		// host's init, and no goroutine watches it.
		cmd.Cancel = nil
	}
	if cmd.Err == nsexec.ErrStopped {
		cmd.Err = h.closedErr()
	}
	return cmd
}

// userDo runs fn in the host for InNS and Do: in its network namespace, on
// a thread whose children are born in the host's PID namespace, once the
// topology's links are up. It reports whether fn ran; if not, err says why
// and names the host, wrapping ErrClosed after teardown.
func (h *Host) userDo(fn func() error) (err error, entered bool) {
	h.topo.ready()
	init, _, err := h.procInit()
	if err != nil {
		return err, false
	}
	err = h.ns.DoWith(init.Enter, func() error {
		entered = true
		return fn()
	})
	if !entered {
		if err == nsexec.ErrStopped || errors.Is(err, ns.ErrClosed) {
			return h.closedErr(), false
		}
		return fmt.Errorf("host %q: enter namespace: %w", h.name, err), false
	}
	return err, true
}

// nsDo runs fn in the host's network namespace only, once the topology's
// links are up, for the library's own work (sockets, probes, captures): it
// starts no init. After teardown it returns ErrClosed.
func (h *Host) nsDo(fn func() error) error {
	h.topo.ready()
	return h.do(fn)
}

// closeProcs marks the host closed, so that it starts no more programs, and
// returns its init, if it has one, for stopProcesses.
func (h *Host) closeProcs() *nsexec.Init {
	p := &h.procs
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.cancel != nil {
		p.cancel(h.closedErr())
	}
	return p.init
}

// stopProcesses kills every process running in the hosts, whatever started
// it (Command, os/exec inside InNS or Do) and however it detached, and
// returns when all of them are dead.
func stopProcesses(hosts []*Host) {
	var inits []*nsexec.Init
	for _, h := range hosts {
		if i := h.closeProcs(); i != nil {
			inits = append(inits, i)
		}
	}
	nsexec.Stop(inits)
}

// etcHosts returns the /etc/hosts that programs started in host from see:
// localhost, and every host, router and bridge with its addresses but
// link-local ones, IPv4 first. For each name and IP version the address
// comes first that from would use for it itself (Topology.Resolve's rule:
// the one it reaches directly); an address that other nodes hold too, on
// other L2 segments, is left out unless it is that one, so a program never
// reaches the wrong copy of an overlapping address space. A host without an
// address finds its own name on 127.0.1.1, as in Debian's /etc/hosts:
// programs look up their own host name.
func (t *Topology) etcHosts(from *Host) []byte {
	var b bytes.Buffer
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	fmt.Fprintf(&b, "\n# nodes of topology %q (nstest)\n", t.name)
	named := false
	add := func(name string, addrs []netip.Prefix) {
		for _, fam := range []ping.Family{ping.IPv4, ping.IPv6} {
			first, _, err := t.lookup(from, name, fam)
			if err == nil {
				fmt.Fprintf(&b, "%s\t%s\n", first, name)
				named = named || name == from.name
			}
			for _, p := range addrs {
				a := p.Addr()
				if ping.FamilyOf(a) != fam || a == first || a.IsLinkLocalUnicast() || a.IsLoopback() || len(t.holders(a, false)) > 1 {
					continue
				}
				fmt.Fprintf(&b, "%s\t%s\n", a, name)
				named = named || name == from.name
			}
		}
	}
	for _, h := range t.Hosts() {
		add(h.name, h.Addrs())
	}
	for _, br := range t.Bridges() {
		add(br.name, br.Addrs())
	}
	if !named {
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", from.name)
	}
	return b.Bytes()
}

// HostsFile returns the /etc/hosts that a program started in the host now
// (with Command) sees: localhost, and each node of the topology with the
// addresses this host would use for it. `nstest up` writes the same file
// for `ip netns exec`.
func (h *Host) HostsFile() []byte { return h.topo.etcHosts(h) }

// Command returns a command that runs the program name with the given
// arguments inside the host, like exec.Command. The program runs in the
// host's network, PID, UTS and mount namespaces: its hostname is the host's
// name, /etc/hosts names every node of the topology with its addresses as of
// the moment it starts, /etc/resolv.conf names no server outside the
// topology, and /proc and /sys are the host's. The machine's /etc is not
// touched. Everything the program starts, daemons included, is killed when
// the topology is torn down, and dies with the test process even if that is
// killed with SIGKILL.
//
// cmd.Process is a launcher (this test binary) that starts the program,
// forwards signals to it and exits as it does, so Wait and ProcessState tell
// what the program did; the program dies with the launcher. SysProcAttr
// applies to the launcher. Append to ExtraFiles rather than replacing it:
// its first entries are the launcher's, and the program sees yours from
// descriptor 3 on. After teardown, Start returns an error wrapping
// ErrClosed.
func (h *Host) Command(name string, arg ...string) *exec.Cmd {
	return h.command(nil, name, arg)
}

// CommandContext is Command with a context, like exec.CommandContext: the
// process is killed when ctx is done.
func (h *Host) CommandContext(ctx context.Context, name string, arg ...string) *exec.Cmd {
	if ctx == nil {
		panic("nstest: CommandContext: nil Context")
	}
	return h.command(ctx, name, arg)
}
