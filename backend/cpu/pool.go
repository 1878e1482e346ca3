package cpu

import (
	"runtime"
	"sync"

	"github.com/hypergrad-go/hypergrad/backend"
)

// Sizes below which an operation, or one part of it, is not worth a
// goroutine hand-off (a few microseconds when the pool is hot). Measured on a
// 2-core virtual machine: two workers start to win at about 64K elements for
// Axpy and Dot and 64K multiply-adds for MulVec.
const (
	// partElems is the least number of elements one part of an
	// elementwise operation, Dot or Nrm2 gets: vectors shorter than
	// 2·partElems are processed by the calling goroutine alone.
	partElems = 1 << 15
	// partWork is the least number of multiply-adds one part of a matrix
	// operation gets. A pass over a matrix costs rows·cols multiply-adds
	// (dense) or stored entries + rows (CSR); the fused kernels make two
	// passes' worth (a dot product and an axpy per entry).
	partWork = 1 << 15
)

// engine runs the parts of one operation: part 0 on the calling goroutine,
// parts 1…np−1 on a persistent pool of workers−1 goroutines. It holds the
// arguments of the operation in flight (one at a time: a Backend is not safe
// for concurrent use) and the per-part scratch space. It never references
// the Backend, so that the pool does not keep an abandoned Backend alive.
type engine struct {
	workers  int
	start    chan int      // part indices for the pool
	done     chan struct{} // one receive per finished part
	stopOnce sync.Once

	task func(part int) // the operation in flight

	bounds  []int       // parts of the current operation: [bounds[k], bounds[k+1])
	cbounds []int       // column ranges of the reduction of accumulators
	acc     [][]float64 // per-part accumulators, grown on demand
	rowSum  [][]float64 // per-part CSR row values by column (GramDiag with duplicates), grown on demand
	rowSeen [][]bool    // per-part marks of rowSum's live columns: all false between rows
	zbuf    [][]float64 // per-part row-block results (len maxBlock)
	partial []float64   // per-part scalars
	args    opArgs      // operands of the operation in flight

	// Method values, bound once so that dispatching allocates nothing.
	fCopy, fFill, fScal, fAxpy, fAxpby, fMulElem func(int)
	fDot, fSsq, fNrm2                            func(int)
	fMulVec, fMulVecT, fGram, fGLM, fReduce      func(int)
	fGramDiag                                    func(int)
}

// opArgs are the operands of the operation in flight. They are cleared when
// it returns so that the engine does not keep freed memory alive.
type opArgs struct {
	x, y, dst   []float64
	wts, curv   []float64 // d of GramVec and GramDiag; curv of GLMGrad
	alpha, beta float64
	a           float64 // Fill value
	loss        backend.Loss
	glm         bool // the fused operation is GLMGrad (else GramVec)
	noLoss      bool // GLMGradNoLoss: the rows' losses are not computed
	grad        bool // GLMGrad accumulates a gradient
	np          int  // number of parts of the row pass
	m           matRef
}

// matRef is the storage of the matrix operand.
type matRef struct {
	rows, cols int
	val        []float64 // dense row-major values, or CSR values
	indptr     []int     // nil for dense
	indices    []int32
	dupRows    []bool // CSR: rows holding two entries of the same column; nil if none
}

func newEngine(workers int) *engine {
	e := &engine{
		workers: workers,
		bounds:  make([]int, workers+1),
		cbounds: make([]int, workers+1),
		acc:     make([][]float64, workers),
		rowSum:  make([][]float64, workers),
		rowSeen: make([][]bool, workers),
		zbuf:    make([][]float64, workers),
		partial: make([]float64, workers),
	}
	for k := range e.zbuf {
		e.zbuf[k] = make([]float64, maxBlock)
	}
	e.fCopy, e.fFill, e.fScal = e.copyPart, e.fillPart, e.scalPart
	e.fAxpy, e.fAxpby, e.fMulElem = e.axpyPart, e.axpbyPart, e.mulElemPart
	e.fDot, e.fSsq, e.fNrm2 = e.dotPart, e.ssqPart, e.nrm2Part
	e.fMulVec, e.fMulVecT, e.fGram, e.fGLM = e.mulVecPart, e.mulVecTPart, e.gramPart, e.glmPart
	e.fGramDiag, e.fReduce = e.gramDiagPart, e.reducePart
	if workers > 1 {
		e.start = make(chan int, workers)
		e.done = make(chan struct{}, workers)
		for range workers - 1 {
			go e.worker()
		}
	}
	return e
}

func (e *engine) worker() {
	for {
		k, ok := e.next()
		if !ok {
			return
		}
		e.task(k)
		e.done <- struct{}{}
	}
}

// spinPolls is how many times a waiting goroutine polls its channel, yielding
// the processor in between, before it blocks. Waking a blocked thread costs
// tens of microseconds on a virtual machine; an iterative solver issues its
// next operation sooner than that, so the pool stays hot between
// operations, and the caller between the end of its part and the others'.
const spinPolls = 200

// next returns the next part to run, or false when the pool is stopped.
func (e *engine) next() (int, bool) {
	for range spinPolls {
		select {
		case k, ok := <-e.start:
			return k, ok
		default:
			runtime.Gosched()
		}
	}
	k, ok := <-e.start
	return k, ok
}

// stop ends the pool's goroutines and drops the scratch space.
func (e *engine) stop() {
	e.stopOnce.Do(func() {
		if e.start != nil {
			close(e.start)
		}
		e.acc, e.rowSum, e.rowSeen = nil, nil, nil
	})
}

// run executes task(0), …, task(np−1), part 0 on the calling goroutine, and
// returns when all have finished.
func (e *engine) run(task func(int), np int) {
	if np <= 1 {
		task(0)
		return
	}
	e.task = task
	for k := 1; k < np; k++ {
		e.start <- k
	}
	task(0)
	for waiting, polls := np-1, 0; waiting > 0; {
		if polls < spinPolls {
			select {
			case <-e.done:
				waiting--
			default:
				runtime.Gosched()
				polls++
			}
			continue
		}
		<-e.done
		waiting--
	}
	e.task = nil
}

// reset forgets the operands of the finished operation.
func (e *engine) reset() { e.args = opArgs{} }

// span returns the range of part k.
func (e *engine) span(k int) (lo, hi int) { return e.bounds[k], e.bounds[k+1] }

// parts returns how many parts work units get when each part needs at
// least minPart of them, capped at limit and at the number of workers.
func (e *engine) parts(work, minPart, limit int) int {
	np := min(work/minPart, limit, e.workers)
	return max(np, 1)
}

// splitLen cuts [0, n) into parts of equal length (boundaries on multiples
// of 8 elements, a cache line, to avoid false sharing) and returns their number.
func (e *engine) splitLen(n int) int {
	np := e.parts(n, partElems, n)
	b := e.bounds
	b[0] = 0
	for k := 1; k < np; k++ {
		b[k] = (k * n / np) &^ 7
	}
	b[np] = n
	return np
}

// matWork returns the multiply-adds of one pass over m: rows·cols for dense,
// stored entries plus rows for CSR.
func matWork(m *matRef) int {
	if m.indptr != nil {
		return len(m.val) + m.rows
	}
	return m.rows * m.cols
}

// splitRows cuts the rows of m into np parts, equal in rows for dense and
// in stored entries + rows for CSR, and records them in e.bounds.
func (e *engine) splitRows(m *matRef, np int) {
	b := e.bounds
	b[0], b[np] = 0, m.rows
	if m.indptr == nil {
		for k := 1; k < np; k++ {
			b[k] = k * m.rows / np
		}
		return
	}
	// cost(i) = indptr[i] + i is the work of rows [0, i); part k starts at
	// the first row i with cost(i) ≥ k·total/np.
	total := len(m.val) + m.rows
	for k := 1; k < np; k++ {
		target := k * total / np
		lo, hi := b[k-1], m.rows
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if m.indptr[mid]+mid < target {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		b[k] = lo
	}
}

// growAcc makes the accumulators of parts 0…np−1 at least n long.
func (e *engine) growAcc(np, n int) {
	for k := range np {
		if cap(e.acc[k]) < n {
			e.acc[k] = make([]float64, n)
		}
	}
}

// growRowScratch makes rowSum and rowSeen of parts 0…np−1 at least n long;
// new marks are false.
func (e *engine) growRowScratch(np, n int) {
	for k := range np {
		if cap(e.rowSum[k]) < n {
			e.rowSum[k] = make([]float64, n)
			e.rowSeen[k] = make([]bool, n)
		}
	}
}

// sumPartials returns partial[0] + … + partial[np−1], in that order.
func (e *engine) sumPartials(np int) float64 {
	s := e.partial[0]
	for _, p := range e.partial[1:np] {
		s += p
	}
	return s
}
