package nstest

import "testing"

// Every Assert function has a Require counterpart that takes the same
// arguments and options, runs the very same check (it calls the Assert
// function), and stops the test with tb.FailNow when the check fails, as
// testify's require does for assert.

// holdOrStop stops the test when a check did not hold; the check has
// reported why already.
func holdOrStop(tb testing.TB, held bool) {
	tb.Helper()
	if !held {
		tb.FailNow()
	}
}

// RequireTCPReachable is AssertTCPReachable that stops the test when it
// fails.
func RequireTCPReachable(tb testing.TB, from *Host, address string, opts ...CheckOption) {
	tb.Helper()
	holdOrStop(tb, AssertTCPReachable(tb, from, address, opts...))
}

// RequireTCPUnreachable is AssertTCPUnreachable that stops the test when it
// fails.
func RequireTCPUnreachable(tb testing.TB, from *Host, address string, opts ...CheckOption) {
	tb.Helper()
	holdOrStop(tb, AssertTCPUnreachable(tb, from, address, opts...))
}

// RequireUDPReachable is AssertUDPReachable that stops the test when it
// fails.
func RequireUDPReachable(tb testing.TB, from *Host, address string, opts ...CheckOption) {
	tb.Helper()
	holdOrStop(tb, AssertUDPReachable(tb, from, address, opts...))
}

// RequireUDPUnreachable is AssertUDPUnreachable that stops the test when it
// fails.
func RequireUDPUnreachable(tb testing.TB, from *Host, address string, opts ...CheckOption) {
	tb.Helper()
	holdOrStop(tb, AssertUDPUnreachable(tb, from, address, opts...))
}
