// Package kconfig turns the kernel's "no such kind of object" answers into
// errors that say which kernel option is missing, so that a test needing a
// feature the running kernel lacks is skipped, naming the option, rather
// than failed.
package kconfig

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// ErrUnsupported is wrapped by errors for features the running kernel lacks;
// the message names the missing kernel option.
var ErrUnsupported = errors.New("not supported by this kernel")

// Lacks reports whether err, the answer to creating a kernel object (a link,
// a qdisc, an nf_tables table, chain or expression), says that the kernel
// has no such kind of object:
//   - EOPNOTSUPP: rtnetlink's "Unknown device type", a bridge option the
//     bridge code was built without;
//   - ENOENT: tc's "Specified qdisc kind is unknown", nf_tables' unknown
//     chain type or expression (after trying to load its module);
//   - EAFNOSUPPORT, EPROTONOSUPPORT: no nf_tables family, no nfnetlink;
//   - an error without an errno that says "not supported".
func Lacks(err error) bool {
	if err == nil {
		return false
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EOPNOTSUPP, syscall.ENOENT, syscall.EAFNOSUPPORT, syscall.EPROTONOSUPPORT:
			return true
		}
		return false
	}
	return strings.Contains(err.Error(), "not supported")
}

// Check returns err unchanged, unless the kernel answered that it lacks the
// kind of object being created (see Lacks): then it returns an error
// wrapping both err and ErrUnsupported and naming the kernel options the
// object needs, for example
//
//	operation not supported: not supported by this kernel (needs CONFIG_VXLAN)
//
// Call it only on the error of creating the object, where ENOENT means an
// unknown kind rather than a missing name.
func Check(err error, options ...string) error {
	if !Lacks(err) || errors.Is(err, ErrUnsupported) {
		return err
	}
	return fmt.Errorf("%w: %w (needs %s)", err, ErrUnsupported, strings.Join(options, " and "))
}
