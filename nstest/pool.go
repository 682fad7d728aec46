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
// few blank namespaces ready, on another core, from the first time a
// topology needs one until the process exits: loopback up, netlink sockets
// open, nothing else. A namespace is never handed out twice; the spares die
// with the process like every other namespace of it.

// spares is how many blank namespaces wait ready.
const spares = 3

// blank is a fresh namespace with its netlink sockets and loopback up.
type blank struct {
	n   *ns.NS
	nl  *netlink.Handle
	fnl *fastnl.Conn
}

var pool struct {
	once sync.Once
	ch   chan blank
}

// takeBlank returns a spare namespace, or makes one if none is ready.
func takeBlank() (blank, error) {
	pool.once.Do(func() {
		pool.ch = make(chan blank, spares-1) // plus one waiting to be sent
		go fillPool()
	})
	select {
	case b := <-pool.ch:
		return b, nil
	default:
		return makeBlank()
	}
}

// fillPool keeps the pool full. It stops at the first failure: takeBlank
// then makes namespaces itself and reports the error where it happens.
func fillPool() {
	for {
		b, err := makeBlank()
		if err != nil {
			return
		}
		pool.ch <- b
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
