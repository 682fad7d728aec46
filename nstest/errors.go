package nstest

import "errors"

// ErrClosed is wrapped by the error of every method of a Topology, Host,
// Bridge or Interface called after the topology was torn down: its
// namespaces are gone, and no call may act on another namespace instead.
// Builders (AddHost, Connect, ...) fail the test saying so, and InNS panics
// with an error wrapping it.
var ErrClosed = errors.New("nstest: topology torn down")
