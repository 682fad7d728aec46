package ping

import (
	"testing"
	"time"
)

func TestSummarise(t *testing.T) {
	st := &Stats{Sent: 4, Received: 2, RTTs: []time.Duration{time.Millisecond, 3 * time.Millisecond}}
	st.summarise()
	if st.Loss != 50 || st.Min != time.Millisecond || st.Max != 3*time.Millisecond ||
		st.Avg != 2*time.Millisecond || st.StdDev != time.Millisecond {
		t.Errorf("%+v; want 50%% loss, min/avg/max/mdev 1/2/3/1 ms", st)
	}
	none := &Stats{}
	none.summarise()
	if none.Loss != 100 {
		t.Errorf("nothing sent: Loss %v, want 100", none.Loss)
	}
}

// TestMatchWrapsSequence: sequence numbers are 16 bits; a reply maps to the
// latest request with its number.
func TestMatchWrapsSequence(t *testing.T) {
	r := &run{c: &Conn{family: IPv4, kind: Datagram}, tokenLen: 8, token: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}}
	r.sendAt = make([]time.Duration, 70000)
	reply := func(seq uint16) []byte {
		return append([]byte{0, 0, 0, 0, 0, 0, byte(seq >> 8), byte(seq)}, r.token[:]...)
	}
	for _, tc := range []struct {
		seq  uint16
		want int
	}{
		{70000 % 65536, 69999},         // the last request
		{69999 % 65536, 69998},         // the one before
		{70001 % 65536, 70000 - 65536}, // newer than any sent: the old request 4464 had it
		{1, 65536},                     // request 65537 (index 65536) wrapped to 1
	} {
		if got := r.match(reply(tc.seq), true); got != tc.want {
			t.Errorf("seq %d after 70000 requests: index %d, want %d", tc.seq, got, tc.want)
		}
	}
	bad := reply(5)
	bad[8] ^= 0xff
	if got := r.match(bad, true); got != -1 {
		t.Errorf("wrong token matched request %d", got)
	}
}
