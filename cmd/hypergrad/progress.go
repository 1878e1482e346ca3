package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/hypergrad-go/hypergrad/hypergrad"
)

// liveProgress draws one progress line for a long estimate on a terminal:
// the phase, its iteration and residual, and the seconds since the start,
// redrawn at most every 100 ms once the run has taken a second, and erased
// when the run ends. It is nil (quiet) unless w is the process's stderr and
// that is a terminal, so that logs, pipes and CI stay clean.
type liveProgress struct {
	w           io.Writer
	start, last time.Time
	drawn       bool
}

func newLiveProgress(w io.Writer) *liveProgress {
	f, ok := w.(*os.File)
	if !ok || f != os.Stderr {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &liveProgress{w: w, start: time.Now()}
}

// monitor is the estimator's Monitor (nil for a nil liveProgress).
func (l *liveProgress) monitor() hypergrad.Monitor {
	if l == nil {
		return nil
	}
	return func(p hypergrad.Progress) error {
		now := time.Now()
		if now.Sub(l.start) < time.Second || now.Sub(l.last) < 100*time.Millisecond {
			return nil
		}
		l.last, l.drawn = now, true
		res := ""
		if !math.IsNaN(p.Residual) {
			res = fmt.Sprintf("  residual %.3g", p.Residual)
		}
		fmt.Fprintf(l.w, "\r%-8s iteration %-9d%s  %.1f s\033[K", p.Phase, p.Iter, res, now.Sub(l.start).Seconds())
		return nil
	}
}

// done erases the line.
func (l *liveProgress) done() {
	if l != nil && l.drawn {
		fmt.Fprint(l.w, "\r\033[K")
	}
}

// setMonitor installs m on the estimators that take one.
func setMonitor(e any, m hypergrad.Monitor) {
	if m == nil {
		return
	}
	switch v := e.(type) {
	case *hypergrad.AID:
		v.Monitor = m
	case *hypergrad.ITD:
		v.Monitor = m
	case *hypergrad.FixedPointAID:
		v.Monitor = m
	case *hypergrad.FixedPointITD:
		v.Monitor = m
	}
}
