package nstest_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/nstest"
)

func TestRunOutcomes(t *testing.T) {
	t.Parallel()
	var order []string
	err := nstest.Run("pass", io.Discard, func(tb testing.TB) {
		tb.Cleanup(func() { order = append(order, "first registered") })
		tb.Cleanup(func() {
			order = append(order, "second registered")
			assert.Error(t, tb.Context().Err(), "Context still live during cleanups")
		})
		assert.NoError(t, tb.Context().Err())
	})
	require.NoError(t, err)
	assert.Equal(t, []string{"second registered", "first registered"}, order)

	after := false
	err = nstest.Run("fatal", io.Discard, func(tb testing.TB) {
		tb.Errorf("one")
		tb.Fatalf("two")
		after = true
	})
	require.Error(t, err)
	assert.False(t, after, "Fatalf did not stop the function")
	assert.Equal(t, "fatal: one\ntwo", err.Error())

	var log strings.Builder
	err = nstest.Run("skip", &log, func(tb testing.TB) {
		tb.Log("before")
		tb.Skipf("no %s here", "netem")
	})
	assert.True(t, errors.Is(err, nstest.ErrSkipped), "%v", err)
	assert.Contains(t, err.Error(), "no netem here")
	assert.Equal(t, "before\n", log.String())
}
