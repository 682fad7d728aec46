// The seed tutorial ends with a remark: "To enable Erlang distributed you
// have to 'do something' with epmd to make it work". This is that remark
// replayed. Two Erlang nodes with short names (erl -sname), one per host of
// the seed's bridge, each starting its own epmd as Erlang does by itself.
//
// The failure, with the seed's own setup: its namespaces keep loopback down
// and without an address, as `ip netns add` makes them. An Erlang node registers with its epmd over
// 127.0.0.1, so distribution cannot start: that was the "something".
//
// The fix is no work at all in nstest: every host has loopback up, its own
// hostname (so b's full name is b@ns2) and an /etc/hosts naming every node,
// so net_adm:ping answers pong and an rpc:call runs on the other host. Every
// epmd and node is gone when the test ends.
package scenarios_test

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nstest/harness/nstest"
)

func TestErlangDistribution(t *testing.T) {
	t.Parallel()
	needProgram(t, "erl", "erlang-nox")
	home := t.TempDir()
	erl := func(args ...string) []string {
		return append([]string{"-noshell", "-noinput", "-setcookie", "nstest"}, args...)
	}
	env := []string{"HOME=" + home, "ERL_CRASH_DUMP_SECONDS=0"}

	t.Run("seed setup: loopback down", func(t *testing.T) {
		topo := nstest.New(t)
		br := topo.AddBridge("br1")
		ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
		topo.Connect(ns1, br, "10.0.0.1/24")
		topo.Connect(ns2, br, "10.0.0.2/24")
		for _, h := range []*nstest.Host{ns1, ns2} {
			setLoopbackDown(t, h)
		}
		cmd := ns2.Command("erl", erl("-sname", "b", "-eval", `io:format("started~n"), halt().`)...)
		cmd.Env, cmd.Dir = append(os.Environ(), env...), home
		out, err := output(t, cmd)
		require.Error(t, err, "an Erlang node with loopback down: %s", out)
		assert.NotContains(t, string(out), "started")
		assert.Contains(t, string(out), "Protocol 'inet_tcp': register/listen error", "the node could not register with epmd")
	})

	t.Run("nstest hosts", func(t *testing.T) {
		var pidfds []int
		t.Run("cluster", func(t *testing.T) {
			topo := nstest.New(t)
			br := topo.AddBridge("br1")
			ns1, ns2 := topo.AddHost("ns1"), topo.AddHost("ns2")
			topo.Connect(ns1, br, "10.0.0.1/24")
			topo.Connect(ns2, br, "10.0.0.2/24")

			ns2.StartService(append([]string{"erl"}, erl("-sname", "b", "-eval", `io:format("node ~s up~n", [node()]).`)...),
				nstest.ReadyLine(`^node b@ns2 up$`), nstest.ServiceEnv(env...), nstest.ServiceDir(home),
				// erl takes seconds to start on an emulated CPU (the kernel
				// lane): a bound for a node that never comes up.
				nstest.ReadyTimeout(time.Minute))
			cmd := ns1.Command("erl", erl("-sname", "a", "-eval", `
				io:format("~s~n", [node()]),
				io:format("~p~n", [net_adm:ping(b@ns2)]),
				io:format("~s~n", [rpc:call(b@ns2, os, cmd, ["hostname"])]),
				halt().`)...)
			cmd.Env, cmd.Dir = append(os.Environ(), env...), home
			out, err := output(t, cmd)
			require.NoError(t, err, "%s", out)
			assert.Equal(t, "a@ns1\npong\nns2\n\n", string(out), "a's name, net_adm:ping(b@ns2), hostname run on b by rpc:call")

			// Both hosts run an epmd that Erlang started by itself.
			pids := append(processesIn(t, ns1), processesIn(t, ns2)...)
			assert.Contains(t, commands(pids), "epmd")
			for _, pid := range pids {
				// A pidfd pins the process: its number cannot be reused.
				if fd, err := unix.PidfdOpen(pid, 0); err == nil {
					pidfds = append(pidfds, fd)
				}
			}
		})
		// Every epmd and node is gone now that the topology is torn down.
		for _, fd := range pidfds {
			assert.ErrorIs(t, unix.PidfdSendSignal(fd, 0, nil, 0), unix.ESRCH, "a process of the cluster outlived the topology")
			unix.Close(fd)
		}
	})
}

// output runs cmd and returns its standard output and error. They go to a
// file, not a pipe: the epmd that erl starts inherits them and outlives erl,
// and a pipe would stay open until epmd ends.
func output(t *testing.T, cmd *exec.Cmd) (string, error) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "erl-output")
	require.NoError(t, err)
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	b, rerr := os.ReadFile(f.Name())
	require.NoError(t, rerr)
	return string(b), err
}

// setLoopbackDown puts h's loopback back as `ip netns add` makes it: down and
// without addresses. (Only taking it down would keep 127.0.0.1 as a local
// address: connections to it would then wait for SYN retries for two
// minutes instead of failing at once.)
func setLoopbackDown(t *testing.T, h *nstest.Host) {
	t.Helper()
	require.NoError(t, h.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetDown(lo); err != nil {
			return err
		}
		addrs, err := netlink.AddrList(lo, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if err := netlink.AddrDel(lo, &a); err != nil {
				return err
			}
		}
		return nil
	}))
}

// processesIn lists the processes whose network namespace is h's.
func processesIn(t *testing.T, h *nstest.Host) []int {
	t.Helper()
	var want unix.Stat_t
	require.NoError(t, h.Do(func() error { return unix.Stat("/proc/thread-self/ns/net", &want) }))
	d, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range d {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) == nil && st.Ino == want.Ino && st.Dev == want.Dev {
			pids = append(pids, pid)
		}
	}
	return pids
}

// commands returns the program names of the processes, space-separated.
func commands(pids []int) string {
	var names []string
	for _, pid := range pids {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		names = append(names, strings.TrimSpace(string(b)))
	}
	return strings.Join(names, " ")
}
