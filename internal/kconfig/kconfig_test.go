package kconfig_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/nstest/harness/internal/kconfig"
)

// opError is shaped like the error package nftables returns: the errno
// inside a netlink operation error.
type opError struct{ err error }

func (e *opError) Error() string { return "netlink receive: " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		err         error
		unsupported bool
		msg         string
	}{
		{syscall.EOPNOTSUPP, true, "operation not supported: not supported by this kernel (needs CONFIG_VXLAN)"},
		{fmt.Errorf("add link: %w", syscall.ENOENT), true, "add link: no such file or directory: not supported by this kernel (needs CONFIG_VXLAN)"},
		{syscall.EAFNOSUPPORT, true, "address family not supported by protocol: not supported by this kernel (needs CONFIG_VXLAN)"},
		{syscall.EPROTONOSUPPORT, true, "protocol not supported: not supported by this kernel (needs CONFIG_VXLAN)"},
		{fmt.Errorf("conn.Receive: %w", &opError{syscall.ENOENT}), true,
			"conn.Receive: netlink receive: no such file or directory: not supported by this kernel (needs CONFIG_VXLAN)"},
		{errors.New("feature not supported"), true, "feature not supported: not supported by this kernel (needs CONFIG_VXLAN)"},
		// Errors that are not about a missing kind of object stay as they are.
		{syscall.EEXIST, false, "file exists"},
		{syscall.EPERM, false, "operation not permitted"},
		{syscall.EINVAL, false, "invalid argument"},
		{errors.New("something else"), false, "something else"},
	} {
		got := kconfig.Check(c.err, "CONFIG_VXLAN")
		if errors.Is(got, kconfig.ErrUnsupported) != c.unsupported || got.Error() != c.msg {
			t.Errorf("Check(%v): %q (unsupported %v), want %q (unsupported %v)", c.err, got, errors.Is(got, kconfig.ErrUnsupported), c.msg, c.unsupported)
		}
		if !errors.Is(got, c.err) {
			t.Errorf("Check(%v) = %v does not wrap the kernel's error", c.err, got)
		}
	}
	if kconfig.Check(nil, "CONFIG_VXLAN") != nil {
		t.Error("Check(nil) is not nil")
	}
	twice := kconfig.Check(kconfig.Check(syscall.ENOENT, "CONFIG_A"), "CONFIG_B")
	if want := "no such file or directory: not supported by this kernel (needs CONFIG_A)"; twice.Error() != want {
		t.Errorf("checked twice: %q, want %q", twice, want)
	}
	if got := kconfig.Check(syscall.ENOENT, "CONFIG_NF_TABLES", "CONFIG_NF_TABLES_BRIDGE").Error(); got != "no such file or directory: not supported by this kernel (needs CONFIG_NF_TABLES and CONFIG_NF_TABLES_BRIDGE)" {
		t.Errorf("two options: %q", got)
	}
}
