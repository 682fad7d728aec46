// Package scenarios_test holds end-to-end tests that read as documentation:
// the seed tutorial replayed step by step (seed_test.go), and reproductions of
// network bugs that break production, one file per bug. Each file says what went wrong, builds the smallest topology
// that shows it, asserts the failure first, then applies the fix and asserts
// that it works. Read them as documentation; run them as tests:
//
//	go test ./scenarios/
package scenarios_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nstest/harness/internal/rootcheck"
	"github.com/nstest/harness/nstest"
	"github.com/nstest/harness/nstest/capture"
)

// TestMain runs the scenarios rootless when needed, like nstest.Main, and
// fails the run if they changed the namespace they ran in.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(rootcheck.Tests(m.Run))
}

// serveBytes starts a TCP server on h at addr that sends n bytes to every
// client, then closes the connection.
func serveBytes(t *testing.T, h *nstest.Host, addr string, n int) {
	t.Helper()
	serve(t, h, addr, func(c net.Conn) {
		buf := make([]byte, 64<<10)
		for left := n; left > 0; {
			k, err := c.Write(buf[:min(left, len(buf))])
			if err != nil {
				return
			}
			left -= k
		}
	})
}

// serve starts a TCP server on h at addr that runs handle for every client
// and closes the connection afterwards. When the test ends, before the
// topology's teardown, it closes the listener and every open connection and
// waits for the handlers: a handler blocked writing to a client whose
// namespace is gone would otherwise wait forever.
func serve(t *testing.T, h *nstest.Host, addr string, handle func(net.Conn)) {
	t.Helper()
	l, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  = map[net.Conn]bool{}
		closed bool
		wg     sync.WaitGroup
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		closed = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer func() {
					c.Close()
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
				}()
				handle(c)
			}()
		}
	}()
}

// fetch connects from h to addr and reads until the server closes the
// connection or within has passed. It returns how many bytes arrived, and an
// error if the transfer did not finish.
func fetch(h *nstest.Host, addr string, within time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(within))
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		return int(n), fmt.Errorf("%d bytes arrived in %v, then: %w", n, within, err)
	}
	return int(n), nil
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// pingDF runs the system ping from h: one echo with the Don't Fragment bit
// set and a payload of size bytes (the IP packet is size+28 bytes). It
// reports whether a reply came, with ping's output.
func pingDF(h *nstest.Host, dst string, size int) (bool, string) {
	out, err := h.Command("ping", "-n", "-c", "1", "-W", "1", "-M", "do", "-s", fmt.Sprint(size), dst).CombinedOutput()
	return err == nil, string(out)
}

// open opens a capture on h's interface iface, closed when the test ends.
func open(t *testing.T, h *nstest.Host, iface string) *capture.Capture {
	t.Helper()
	var c *capture.Capture
	err := h.Do(func() (err error) {
		c, err = capture.Open(iface)
		return err
	})
	if err != nil {
		t.Fatalf("capture on %s:%s: %v", h, iface, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor waits for n packets matching f on c, up to ten seconds: a bound for
// a broken network, not a speed check.
func waitFor(t *testing.T, c *capture.Capture, f capture.Filter, n int) []capture.Packet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pkts, err := c.Wait(ctx, f, n)
	if err != nil {
		t.Errorf("capture on %s: %v", c.Interface(), err)
	}
	return pkts
}
