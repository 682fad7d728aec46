package nstest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A Service is a long-running program started in a host by StartService: a
// server, a daemon, a peer. It is stopped at teardown, gracefully first.
type Service struct {
	host *Host
	name string // the program, for messages: "python3 -m http.server 8080"
	cmd  *exec.Cmd
	out  *serviceOutput
	cfg  serviceConfig

	done    chan struct{} // closed when the program has exited and been reaped
	waitErr error         // cmd.Wait's result, set before done is closed

	stopOnce sync.Once
	stopped  atomic.Bool // Stop signalled the program
	stopErr  error
	shown    bool // a failure message already showed the output
}

type serviceConfig struct {
	tcpPorts, udpPorts []int
	line               *regexp.Regexp
	timeout            time.Duration
	grace              time.Duration
	env                []string
	dir                string
}

// A ServiceOption configures StartService: when the program counts as ready,
// how long to wait for that, and how it is stopped.
type ServiceOption func(*serviceConfig) error

// ReadyTCP makes StartService wait until the program listens on TCP port
// port of the host (on any of its addresses, IPv4 or IPv6).
func ReadyTCP(port int) ServiceOption {
	return func(c *serviceConfig) error {
		if port < 1 || port > 65535 {
			return fmt.Errorf("ReadyTCP(%d): port out of range 1-65535", port)
		}
		c.tcpPorts = append(c.tcpPorts, port)
		return nil
	}
}

// ReadyUDP makes StartService wait until the program has a UDP socket bound
// to port port of the host.
func ReadyUDP(port int) ServiceOption {
	return func(c *serviceConfig) error {
		if port < 1 || port > 65535 {
			return fmt.Errorf("ReadyUDP(%d): port out of range 1-65535", port)
		}
		c.udpPorts = append(c.udpPorts, port)
		return nil
	}
}

// ReadyLine makes StartService wait until a line of the program's output
// (standard output or standard error) matches the regular expression
// pattern.
func ReadyLine(pattern string) ServiceOption {
	return func(c *serviceConfig) error {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return fmt.Errorf("ReadyLine(%q): %w", pattern, err)
		}
		c.line = re
		return nil
	}
}

// ReadyTimeout bounds the wait for readiness; it defaults to 10 seconds.
// When it passes, the test fails with the program's last output.
func ReadyTimeout(d time.Duration) ServiceOption {
	return func(c *serviceConfig) error {
		if d <= 0 {
			return fmt.Errorf("ReadyTimeout(%v): must be positive", d)
		}
		c.timeout = d
		return nil
	}
}

// StopGrace is how long Stop and teardown wait after SIGTERM before they
// kill the program; it defaults to 2 seconds.
func StopGrace(d time.Duration) ServiceOption {
	return func(c *serviceConfig) error {
		if d < 0 {
			return fmt.Errorf("StopGrace(%v): must not be negative", d)
		}
		c.grace = d
		return nil
	}
}

// ServiceEnv adds environment variables ("KEY=value") to the program's
// environment, which is otherwise the test process's.
func ServiceEnv(kv ...string) ServiceOption {
	return func(c *serviceConfig) error {
		for _, s := range kv {
			if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
				return fmt.Errorf("ServiceEnv(%q): want KEY=value", s)
			}
		}
		c.env = append(c.env, kv...)
		return nil
	}
}

// ServiceDir sets the program's working directory.
func ServiceDir(dir string) ServiceOption {
	return func(c *serviceConfig) error { c.dir = dir; return nil }
}

const (
	defaultReadyTimeout = 10 * time.Second
	defaultStopGrace    = 2 * time.Second
	serviceOutputKeep   = 64 << 10 // bytes of output kept for messages and artifacts
	serviceOutputShow   = 30       // lines of output shown in a failure message
)

// StartService starts the program argv[0] with the arguments argv[1:] in the
// host, as Command does, and returns once it is ready: listening on the
// ports given by ReadyTCP and ReadyUDP and having printed a line matching
// ReadyLine, or at once when no Ready option is given. It is a builder: when
// the program cannot start, exits, or is not ready within ReadyTimeout, the
// test fails (tb.Fatalf) with the program's last output.
//
// Its standard output and standard error are kept: Output returns the
// recent part, a failing test logs it, and with NSTEST_ARTIFACTS it is saved
// as service-<host>-<program>.log beside the state dump. The program is
// stopped when the test ends, before the topology is torn down: SIGTERM,
// then SIGKILL after StopGrace; anything it started dies with the host.
//
//	web := h.StartService([]string{"python3", "-m", "http.server", "8080"}, nstest.ReadyTCP(8080))
//
// The kernel announces no event when a socket starts to listen, so port
// readiness is read from the host's socket table (sock_diag) at short,
// growing intervals (1 ms up to 20 ms); the wait ends at once when the
// program exits.
func (h *Host) StartService(argv []string, opts ...ServiceOption) *Service {
	tb := h.topo.tb
	tb.Helper()
	s, err := h.startService(argv, opts)
	if err != nil {
		tb.Fatalf("nstest: host %q: %v", h.name, err)
	}
	return s
}

func (h *Host) startService(argv []string, opts []ServiceOption) (*Service, error) {
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("StartService: no program given")
	}
	cfg := serviceConfig{timeout: defaultReadyTimeout, grace: defaultStopGrace}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("service %q: %w", argv[0], err)
		}
	}
	s := &Service{
		host: h,
		name: strings.Join(argv, " "),
		cfg:  cfg,
		done: make(chan struct{}),
	}
	s.out = newServiceOutput(cfg.line)
	cmd := h.Command(argv[0], argv[1:]...)
	if len(cfg.env) > 0 {
		cmd.Env = append(os.Environ(), cfg.env...)
	}
	cmd.Dir = cfg.dir
	// One writer for both streams: exec.Cmd then uses one pipe, and the
	// kept output is in the order the program wrote it.
	cmd.Stdout, cmd.Stderr = s.out, s.out
	// A daemon that keeps the pipe open after the program exits must not
	// hold up Wait.
	cmd.WaitDelay = 100 * time.Millisecond
	s.cmd = cmd
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("service %q: start: %w", s.name, err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	tb := h.topo.tb
	tb.Cleanup(s.teardown)
	if err := s.waitReady(); err != nil {
		s.Stop()
		s.shown = true
		return nil, fmt.Errorf("service %q: %w\n%s", s.name, err, s.lastOutput())
	}
	return s, nil
}

// waitReady waits until every readiness condition holds, the program exits,
// or the timeout passes.
func (s *Service) waitReady() error {
	deadline := time.NewTimer(s.cfg.timeout)
	defer deadline.Stop()
	lineSeen := s.cfg.line == nil
	portsUp := len(s.cfg.tcpPorts)+len(s.cfg.udpPorts) == 0
	wait := time.Millisecond
	var lastErr error
	for {
		if !portsUp {
			missing, err := s.missingPorts()
			switch {
			case err != nil:
				lastErr = err
			case len(missing) == 0:
				portsUp = true
			default:
				lastErr = fmt.Errorf("not listening on %s", strings.Join(missing, ", "))
			}
		}
		if !lineSeen {
			select {
			case <-s.out.matched:
				lineSeen = true
			default:
				lastErr = fmt.Errorf("no line of output matched %q", s.cfg.line)
			}
		}
		if portsUp && lineSeen {
			return nil
		}
		var tick <-chan time.Time
		if !portsUp {
			tick = time.After(wait)
			wait = min(2*wait, 20*time.Millisecond)
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited before it was ready (%v): %v", s.exitStatus(), lastErr)
		case <-deadline.C:
			return fmt.Errorf("not ready after %v: %v", s.cfg.timeout, lastErr)
		case <-s.out.matched:
			lineSeen = true
		case <-tick:
		}
	}
}

// missingPorts lists the ports of the Ready options on which nothing
// listens yet, as "tcp/8080".
func (s *Service) missingPorts() ([]string, error) {
	tcp := map[int]bool{}
	udp := map[int]bool{}
	// The library's own switch, not Host.Do: this reads the socket table
	// and starts nothing.
	err := s.host.do(func() error {
		for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
			socks, err := netlink.SocketDiagTCP(fam)
			if err != nil {
				return fmt.Errorf("read TCP sockets: %w", err)
			}
			for _, so := range socks {
				if so.State == tcpListen {
					tcp[int(so.ID.SourcePort)] = true
				}
			}
			socks, err = netlink.SocketDiagUDP(fam)
			if err != nil {
				return fmt.Errorf("read UDP sockets: %w", err)
			}
			for _, so := range socks {
				udp[int(so.ID.SourcePort)] = true
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, p := range s.cfg.tcpPorts {
		if !tcp[p] {
			missing = append(missing, fmt.Sprintf("tcp/%d", p))
		}
	}
	for _, p := range s.cfg.udpPorts {
		if !udp[p] {
			missing = append(missing, fmt.Sprintf("udp/%d", p))
		}
	}
	return missing, nil
}

// tcpListen is the kernel's TCP_LISTEN state.
const tcpListen = 10

// Stop stops the program: SIGTERM, then SIGKILL once the StopGrace has
// passed. It returns nil when the program exited because of Stop (or with
// status 0), and otherwise what went wrong, for example that it had already
// exited with an error. It may be called more than once; teardown calls it.
func (s *Service) Stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			s.stopErr = s.exitErr()
			return
		default:
		}
		s.stopped.Store(true)
		s.cmd.Process.Signal(syscall.SIGTERM)
		grace := time.NewTimer(s.cfg.grace)
		defer grace.Stop()
		select {
		case <-s.done:
		case <-grace.C:
			s.cmd.Process.Kill()
			<-s.done
		}
		s.stopErr = nil
	})
	return s.stopErr
}

// exitErr describes an exit that nobody asked for, or returns nil for
// status 0.
func (s *Service) exitErr() error {
	if s.waitErr == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(s.waitErr, &ee) {
		return fmt.Errorf("nstest: host %q: service %q exited on its own: %v", s.host.name, s.name, ee.ProcessState)
	}
	return fmt.Errorf("nstest: host %q: service %q: %w", s.host.name, s.name, s.waitErr)
}

// exitStatus is the program's exit status, for messages.
func (s *Service) exitStatus() string {
	if s.cmd.ProcessState != nil {
		return s.cmd.ProcessState.String()
	}
	return fmt.Sprint(s.waitErr)
}

// Done is closed once the program has exited, for whatever reason.
func (s *Service) Done() <-chan struct{} { return s.done }

// Exited reports whether the program has exited, and how: nil for status 0,
// otherwise an error carrying its exit status. Before it exits, Exited
// returns false and nil.
func (s *Service) Exited() (bool, error) {
	select {
	case <-s.done:
		return true, s.exitErr()
	default:
		return false, nil
	}
}

// Output returns the most recent output of the program (standard output and
// standard error, interleaved as written; the last 64 KiB).
func (s *Service) Output() string { return s.out.String() }

// Pid returns the process id of the service's command (see Command: the
// launcher that runs the program and passes signals on to it).
func (s *Service) Pid() int { return s.cmd.Process.Pid }

// String returns the host and the command line.
func (s *Service) String() string { return s.host.name + ": " + s.name }

// teardown stops the program when the test ends and, for a failed test,
// leaves its output in the log and the artifacts.
func (s *Service) teardown() {
	tb := s.host.topo.tb
	exitedAlone := false
	select {
	case <-s.done:
		exitedAlone = !s.stopped.Load()
	default:
	}
	s.Stop()
	if !tb.Failed() {
		return
	}
	how := "stopped"
	if exitedAlone {
		how = "had exited during the test: " + s.exitStatus()
	}
	if !s.shown {
		tb.Logf("nstest: host %q: service %q %s\n%s", s.host.name, s.name, how, s.lastOutput())
	}
	if dir := s.host.topo.artifactDir(); dir != "" {
		name := "service-" + artifactName(s.host.name+"-"+filepath.Base(s.cmd.Args[1])) + ".log"
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), []byte(s.out.String()), 0o644)
		}
		if err != nil {
			tb.Logf("nstest: %s: service output: %v", artifactsEnv, err)
		}
	}
}

// lastOutput is the end of the program's output, for failure messages.
func (s *Service) lastOutput() string {
	out := strings.TrimRight(s.out.String(), "\n")
	if out == "" {
		return "(no output)"
	}
	lines := strings.Split(out, "\n")
	head := "output:"
	if len(lines) > serviceOutputShow {
		head = fmt.Sprintf("last %d lines of output:", serviceOutputShow)
		lines = lines[len(lines)-serviceOutputShow:]
	}
	return head + "\n\t" + strings.Join(lines, "\n\t")
}

// serviceOutput keeps the tail of a program's output and watches its lines
// for the readiness pattern.
type serviceOutput struct {
	re      *regexp.Regexp
	matched chan struct{} // closed at the first matching line

	mu      sync.Mutex
	buf     []byte // the kept tail
	partial []byte // the unfinished last line, for matching
	hit     bool
}

func newServiceOutput(re *regexp.Regexp) *serviceOutput {
	return &serviceOutput{re: re, matched: make(chan struct{})}
}

func (o *serviceOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, p...)
	if over := len(o.buf) - serviceOutputKeep; over > 0 {
		o.buf = append(o.buf[:0], o.buf[over:]...)
	}
	if o.re != nil && !o.hit {
		o.partial = append(o.partial, p...)
		for {
			i := bytes.IndexByte(o.partial, '\n')
			if i < 0 {
				break
			}
			line := o.partial[:i]
			o.partial = o.partial[i+1:]
			if o.re.Match(line) {
				o.hit = true
				o.partial = nil
				close(o.matched)
				break
			}
		}
		if len(o.partial) > serviceOutputKeep {
			o.partial = o.partial[len(o.partial)-serviceOutputKeep:]
		}
	}
	return len(p), nil
}

func (o *serviceOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.buf)
}
