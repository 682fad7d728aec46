package nstest

import (
	"net/http"
	"time"
)

// HTTPClient returns an HTTP client that connects from inside the host, as
// Dial does: a URL may name a node of the topology
// ("http://ns2:8080/index.html"), and no proxy of the environment is used.
// Its connections are closed at teardown.
func (h *Host) HTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           h.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}}
}
