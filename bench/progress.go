package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Progress draws a progress bar on a terminal, or, made by NewLogProgress,
// writes one timestamped line per step. A nil *Progress is quiet.
type Progress struct {
	w     io.Writer
	lines bool
	total int
	done  int
	start time.Time
	last  time.Time
}

// NewProgress returns a progress bar on stderr if stderr is a terminal, and
// nil (quiet) otherwise.
func NewProgress() *Progress {
	fi, err := os.Stderr.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return &Progress{w: os.Stderr}
}

// NewLogProgress returns a Progress that writes each step to w as a line
// with the seconds since the start: for logs, where a bar would be garbled.
func NewLogProgress(w io.Writer) *Progress {
	return &Progress{w: w, lines: true, start: time.Now()}
}

// Start sets the number of steps.
func (p *Progress) Start(total int) {
	if p == nil {
		return
	}
	p.total, p.done = total, 0
	if !p.lines { // a log keeps one clock for the whole run
		p.start = time.Now()
	}
}

// Step advances by one step labelled what.
func (p *Progress) Step(what string) {
	if p == nil {
		return
	}
	p.done++
	if p.lines {
		if what != "" {
			fmt.Fprintf(p.w, "[%7.1fs] %s\n", time.Since(p.start).Seconds(), what)
		}
		return
	}
	if time.Since(p.last) < 100*time.Millisecond && p.done < p.total {
		return
	}
	p.last = time.Now()
	frac := min(float64(p.done)/float64(max(p.total, 1)), 1)
	const width = 30
	n := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %5.1fs  %-40.40s", strings.Repeat("=", n), strings.Repeat(" ", width-n),
		100*frac, time.Since(p.start).Seconds(), what)
}

// Skip advances by n steps that turned out unnecessary.
func (p *Progress) Skip(n int) {
	if p == nil || n <= 0 {
		return
	}
	p.done += n - 1
	p.Step("")
}

// Done ends the bar.
func (p *Progress) Done() {
	if p == nil || p.lines {
		return
	}
	fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 80))
}
