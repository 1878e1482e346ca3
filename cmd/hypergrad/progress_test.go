package main

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// TestLiveProgress: the progress line is off for buffers and pipes (tests,
// logs, CI), draws the phase, iteration and residual once a run has taken
// a second, at most every 100 ms, and is erased at the end.
func TestLiveProgress(t *testing.T) {
	if newLiveProgress(&bytes.Buffer{}) != nil {
		t.Error("progress on a buffer")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if newLiveProgress(w) != nil {
		t.Error("progress on a pipe")
	}
	var nilLive *liveProgress
	if nilLive.monitor() != nil {
		t.Error("a nil progress has a monitor")
	}
	nilLive.done()

	var buf bytes.Buffer
	l := &liveProgress{w: &buf, start: time.Now()}
	m := l.monitor()
	_ = m(hypergrad.Progress{Phase: hypergrad.PhaseInner, Iter: 1, Residual: 0.5})
	if buf.Len() != 0 {
		t.Errorf("drew before a second: %q", buf.String())
	}
	l.start = time.Now().Add(-2 * time.Second)
	_ = m(hypergrad.Progress{Phase: hypergrad.PhaseInner, Iter: 7, Residual: 0.25})
	_ = m(hypergrad.Progress{Phase: hypergrad.PhaseInner, Iter: 8, Residual: 0.125}) // within 100 ms: skipped
	out := buf.String()
	if !strings.Contains(out, "iteration 7") || !strings.Contains(out, "residual 0.25") || strings.Contains(out, "iteration 8") {
		t.Errorf("progress line %q", out)
	}
	l.last = time.Now().Add(-time.Second)
	_ = m(hypergrad.Progress{Phase: hypergrad.PhaseLinear, Iter: 3, Residual: math.NaN()})
	if out := buf.String(); !strings.Contains(out, "iteration 3") || strings.Contains(out, "NaN") {
		t.Errorf("progress line %q", out)
	}
	l.done()
	if !strings.HasSuffix(buf.String(), "\r\033[K") {
		t.Errorf("line not erased: %q", buf.String())
	}
}
