package nstest

import "errors"

// ErrClosed is wrapped by the errors of a topology, host, bridge or
// interface that is already torn down.
var ErrClosed = errors.New("nstest: topology torn down")
