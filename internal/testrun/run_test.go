package testrun_test

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nstest/harness/internal/testrun"
)

func TestRunOutcomes(t *testing.T) {
	t.Parallel()
	var order []string
	err := testrun.Run("pass", io.Discard, func(tb testing.TB) {
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
	err = testrun.Run("fatal", io.Discard, func(tb testing.TB) {
		tb.Errorf("one")
		tb.Fatalf("two")
		after = true
	})
	require.Error(t, err)
	assert.False(t, after, "Fatalf did not stop the function")
	assert.Equal(t, "fatal: one\ntwo", err.Error())

	var log strings.Builder
	err = testrun.Run("skip", &log, func(tb testing.TB) {
		tb.Log("before")
		tb.Skipf("no %s here", "netem")
	})
	assert.True(t, errors.Is(err, testrun.ErrSkipped), "%v", err)
	assert.Contains(t, err.Error(), "no netem here")
	assert.Equal(t, "before\n", log.String())
}

// TestRunCleanupsAllRun: as under go test, a cleanup that calls Fatalf or
// panics does not keep the others from running, last registered first, and
// both failures are reported, the panic with the stack that names its line.
func TestRunCleanupsAllRun(t *testing.T) {
	t.Parallel()
	var order []string
	var line int
	err := testrun.Run("cleanups", io.Discard, func(tb testing.TB) {
		tb.Cleanup(func() { order = append(order, "1") })
		tb.Cleanup(func() {
			order = append(order, "2")
			_, _, line, _ = runtime.Caller(0)
			panic("cleanup boom")
		})
		tb.Cleanup(func() { order = append(order, "3"); tb.Fatalf("cleanup fatal") })
		tb.Cleanup(func() { order = append(order, "4") })
	})
	require.Error(t, err)
	assert.Equal(t, []string{"4", "3", "2", "1"}, order, "not every cleanup ran, in reverse order")
	assert.Contains(t, err.Error(), "cleanup fatal")
	assert.Contains(t, err.Error(), "cleanup boom")
	assert.Contains(t, err.Error(), fmt.Sprintf("run_test.go:%d", line+1), "the panic is reported without its stack")
}

// TestRunRecoversPanic: a panic in fn fails the run with its value and
// stack, and the cleanups still run.
func TestRunRecoversPanic(t *testing.T) {
	t.Parallel()
	cleaned := false
	var line int
	err := testrun.Run("panics", io.Discard, func(tb testing.TB) {
		tb.Cleanup(func() { cleaned = true })
		_, _, line, _ = runtime.Caller(0)
		panic("fn boom")
	})
	require.Error(t, err)
	assert.True(t, cleaned, "the cleanup did not run after the panic")
	assert.Contains(t, err.Error(), "fn boom")
	assert.Contains(t, err.Error(), fmt.Sprintf("run_test.go:%d", line+1), "the panic is reported without its stack")
}
