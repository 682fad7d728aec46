package nstest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// writeSysctl writes a network sysctl of the calling thread's namespace.
func writeSysctl(key, value string) error {
	if !strings.HasPrefix(key, "net.") || strings.Contains(key, "..") || strings.ContainsAny(key, "/ ") {
		return fmt.Errorf("sysctl %q: only network sysctls (net.*) of the host's namespace can be set", key)
	}
	path := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	err := os.WriteFile(path, []byte(value), 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sysctl %q: no such network sysctl in the host's namespace (check the spelling, and that the kernel has the feature): %w", key, err)
	case errors.Is(err, unix.EINVAL):
		return fmt.Errorf("sysctl %s=%q: the kernel refuses the value: %w", key, value, err)
	case err != nil:
		return fmt.Errorf("sysctl %s=%q: %w", key, value, err)
	}
	return nil
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/")))
	return strings.TrimSpace(string(b)), err
}

// SetSysctl sets a network sysctl (net.*) in the host's namespace.
func (h *Host) SetSysctl(key, value string) error {
	if err := h.do(func() error { return writeSysctl(key, value) }); err != nil {
		return fmt.Errorf("nstest: host %q: %w", h.name, err)
	}
	return nil
}

// Sysctl reads a network sysctl (net.*) in the host's namespace.
func (h *Host) Sysctl(key string) (string, error) {
	var v string
	err := h.do(func() (err error) { v, err = readSysctl(key); return err })
	if err != nil {
		return "", fmt.Errorf("nstest: host %q: sysctl %s: %w", h.name, key, err)
	}
	return v, nil
}
