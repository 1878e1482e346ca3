// Command hypergrad computes hypergradients from data files or synthetic
// problems, with the estimators of package hypergrad.
//
// Usage:
//
//	hypergrad grad [flags]     one hypergradient (see hypergrad grad -h)
//	hypergrad bench [flags]    the benchmark suite (see hypergrad bench -h)
//	hypergrad help             this text
//
// Exit status: 0 on success, 1 when the computation fails (divergence,
// breakdown, a device error), 2 for bad input (flags, files, data, and runs
// whose estimated memory exceeds -max-memory; see hypergrad grad -h).
package main

import (
	"fmt"
	"io"
	"os"

	_ "github.com/hypergrad-go/hypergrad/backend/cpu" // registers the "cpu" backend
)

const usage = `hypergrad computes gradients of a validation loss with respect to
hyperparameters through the solution of an inner training problem.

Usage:
  hypergrad grad [flags]   one hypergradient of a ridge, logreg or quadratic problem
  hypergrad bench [flags]  the benchmark suite: error grids, rates, iteration complexity,
                           time, memory, the papers' findings, PyTorch side by side
  hypergrad help           this text

Run "hypergrad grad -h" or "hypergrad bench -h" for the flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the computation failed
	exitUsage   = 2 // bad flags, files or data
)

// run executes the command line args and returns the exit status. It never
// panics: an unexpected panic is reported as one line on stderr.
func run(args []string, stdout, stderr io.Writer) (status int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "hypergrad: internal error: %v (please report it with the command line)\n", r)
			status = exitFailure
		}
	}()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "grad":
		return runGrad(args[1:], stdout, stderr)
	case "bench":
		return runBench(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "hypergrad: unknown command %q (commands: grad, bench, help)\n", args[0])
	return exitUsage
}
