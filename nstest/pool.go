package nstest

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/internal/fastnl"
	"github.com/nstest/harness/internal/ns"
)

// Making a network namespace is the slowest step of AddHost (about a
// millisecond, far more while the kernel is destroying the previous test's
// namespaces), and it needs nothing from the caller. So a goroutine keeps a
// few blank namespaces ready, on another core: loopback up, netlink sockets
// open, nothing else. A namespace is never handed out twice; the spares die
// with the process like every other namespace of it.
//
// The filler runs only while a topology is alive and the pool is not full:
// it is started when a spare is taken, returns once the pool is full, and
// the teardown of the last live topology waits for it to return. So no
// goroutine of nstest outlives the tests (goleak.VerifyTestMain passes), and
// the few spares left wait, without a goroutine, for the next test.

// spares is how many blank namespaces wait ready.
const spares = 3

// blank is a fresh namespace with its netlink sockets and loopback up.
type blank struct {
	n   *ns.NS
	nl  *netlink.Handle
	fnl *fastnl.Conn
}

var pool struct {
	mu     sync.Mutex
	live   int           // topologies not yet torn down
	spares []blank       // ready to hand out
	filler chan struct{} // closed when the running filler returns; nil if none runs
	broken bool          // the filler failed: takeBlank makes every namespace itself
}

// holdPool notes a new live topology.
func holdPool() {
	pool.mu.Lock()
	pool.live++
	pool.mu.Unlock()
}

// releasePool notes the teardown of a topology. The last live one waits
// for the filler to return: it is at most one namespace away from it.
func releasePool() {
	pool.mu.Lock()
	pool.live--
	var wait chan struct{}
	if pool.live == 0 {
		wait = pool.filler
	}
	pool.mu.Unlock()
	if wait != nil {
		<-wait
	}
}

// takeBlank returns a spare namespace, or makes one if none is ready, and
// has the filler replace what it took.
func takeBlank() (blank, error) {
	pool.mu.Lock()
	var b blank
	n := len(pool.spares)
	if n > 0 {
		b = pool.spares[n-1]
		pool.spares = pool.spares[:n-1]
	}
	startFiller()
	pool.mu.Unlock()
	if n > 0 {
		return b, nil
	}
	return makeBlank()
}

// startFiller starts the filler if the pool needs one; pool.mu is held.
func startFiller() {
	if pool.filler != nil || pool.broken || pool.live == 0 || len(pool.spares) >= spares {
		return
	}
	done := make(chan struct{})
	pool.filler = done
	go fillPool(done)
}

// fillPool fills the pool while a topology lives, then returns. It stops
// for good at the first failure: takeBlank then makes namespaces itself and
// reports the error where it happens.
func fillPool(done chan struct{}) {
	defer close(done)
	for {
		pool.mu.Lock()
		if pool.live == 0 || len(pool.spares) >= spares {
			pool.filler = nil
			pool.mu.Unlock()
			return
		}
		pool.mu.Unlock()
		b, err := makeBlank()
		pool.mu.Lock()
		if err != nil {
			pool.broken = true
			pool.filler = nil
			pool.mu.Unlock()
			return
		}
		pool.spares = append(pool.spares, b)
		pool.mu.Unlock()
	}
}

func makeBlank() (blank, error) {
	n, err := ns.New()
	if err != nil {
		return blank{}, err
	}
	b := blank{n: n}
	err = n.Do(func() (err error) {
		if b.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("netlink socket: %w", err)
		}
		if b.fnl, err = fastnl.Open(); err != nil {
			return err
		}
		if err := b.fnl.Do(fastnl.SetUp(1)); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		// Addresses here are chosen by the test, so duplicate address
		// detection only delays IPv6: while a link-local address is
		// tentative a router cannot solicit neighbours for the packets it
		// forwards, and the first packets over a new link wait a second or
		// two.
		for _, k := range []string{"net.ipv6.conf.default.accept_dad", "net.ipv6.conf.all.accept_dad"} {
			if err := writeSysctl(k, "0"); err != nil && !os.IsNotExist(errors.Unwrap(err)) {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.close()
		return blank{}, err
	}
	return b, nil
}

func (b blank) close() {
	if b.nl != nil {
		b.nl.Close()
	}
	if b.fnl != nil {
		b.fnl.Close()
	}
	b.n.Close()
}
