package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"

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
	// chunkWork is the least multiply-adds of one chunk of a row pass cut
	// into chunks (splitChunks): 512 KB of a dense matrix, about 50 µs of
	// streaming on one core of the 2-core VM.
	chunkWork = 1 << 16
	// accRatio bounds the reduction of a pass that accumulates into
	// per-chunk vectors of length cols: every chunk makes at least
	// accRatio·cols multiply-adds, so zeroing and summing its accumulator
	// is at most about 1/accRatio of its work.
	accRatio = 64
	// callElems is the least number of elements one part of an
	// operation that calls a math function per element (Map, Softmax,
	// LogSumExp, CrossEntropy) gets: such an element costs as much as
	// tens of elements of Axpy.
	callElems = 1 << 12
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

	// Chunked row passes (runChunks): the task of every chunk, how many
	// there are, and the next one to hand out.
	chunkTask func(chunk int)
	nchunks   int
	nextChunk atomic.Int64

	bounds  []int       // parts (or chunks) of the current operation: [bounds[k], bounds[k+1])
	cbounds []int       // column ranges of the reduction of accumulators
	acc     [][]float64 // per-part (per-chunk) accumulators, grown on demand
	acc2    [][]float64 // per-chunk accumulators of a second product (GramVecPair, GLMGradGramVec), grown on demand
	rowSum  [][]float64 // per-chunk CSR row values by column (GramDiag with duplicates), grown on demand
	rowSeen [][]bool    // per-chunk marks of rowSum's live columns: all false between rows
	zbuf    [][]float64 // per-part (per-chunk) row-block results (len maxBlock), grown on demand
	partial []float64   // per-part (per-chunk) scalars, grown on demand
	args    opArgs      // operands of the operation in flight

	// Method values, bound once so that dispatching allocates nothing.
	fCopy, fFill, fScal, fAxpy, fAxpby, fMulElem func(int)
	fDot, fSsq, fNrm2                            func(int)
	fMulVec, fMulVecT, fGram, fGLM, fReduce      func(int)
	fGramDiag, fChunks                           func(int)
	fDivElem, fMap                               func(int)
	fScaleRows, fScaleCols, fRowSums, fRowNorms  func(int)
	fSoftmax, fLogSumExp, fCrossEntropy          func(int)
	fColSums, fMulBlock, fMulBlockT, fBlockRed   func(int)
	fSoftmaxGrad                                 func(int)

	wt   []float64   // MulBlock's Wᵀ, Gemm's op(B) when B is transposed: grown on demand
	wti  []float64   // Wᵀ's pairs of rows interleaved for dot4x4AVX512 (interleavePairs): grown on demand
	coef [][]float64 // per-chunk coefficients of the FMA kernels of MulBlockTrans and the softmax passes, grown on demand

	softRows [][]float64 // per-chunk rows of Z (then G) and FMA lanes of SoftmaxGrad and SoftmaxHessBlock, grown on demand
}

// opArgs are the operands of the operation in flight. They are cleared when
// it returns so that the engine does not keep freed memory alive.
type opArgs struct {
	x, y, dst   []float64
	wts, curv   []float64 // d of GramVec, GramDiag and the softmax passes; curv of GLMGrad
	alpha, beta float64
	a           float64 // Fill value
	loss        backend.Loss
	glm         bool      // the fused operation is GLMGrad (else GramVec)
	x2, dst2    []float64 // GramVecPair, GLMGradGramVec: the second vector and its product (nil otherwise)
	wts2        []float64 // the weights of the second product (nil: 1)
	second      bool      // the reduction in flight is that of the second product
	noLoss      bool      // GLMGradNoLoss: the rows' losses are not computed
	rowScratch  bool      // GramDiag of a CSR matrix with duplicates: rowSum, rowSeen per chunk
	grad        bool      // GLMGrad accumulates a gradient
	np          int       // number of accumulators (parts or chunks) of the row pass
	m           matRef    // the matrix operand, or the block operand a of a row operation
	fn          backend.Func
	c           float64   // Map's parameter, RowNorms' c
	k           int       // columns of W, G and dst (MulBlock, MulBlockTrans, the softmax passes)
	lab         []int32   // CrossEntropy's and SoftmaxGrad's labels
	rowLoss     []float64 // CrossEntropy's and SoftmaxGrad's loss (nil: not computed)
	wt          []float64 // MulBlock on a dense matrix: Wᵀ (k×cols), in e.wt or the caller's
	wti         []float64 // wt's pairs interleaved for dot4x4AVX512 (nil: not used)
	prob        []float64 // SoftmaxGrad's P (nil: not stored); SoftmaxHessBlock's P (read)
	hess        bool      // the softmax pass is SoftmaxHessBlock's (else SoftmaxGrad's)
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
	e.fGramDiag, e.fReduce, e.fChunks = e.gramDiagPart, e.reducePart, e.chunksPart
	e.fDivElem, e.fMap = e.divElemPart, e.mapPart
	e.fScaleRows, e.fScaleCols, e.fRowSums, e.fRowNorms = e.scaleRowsPart, e.scaleColsPart, e.rowSumsPart, e.rowNormsPart
	e.fSoftmax, e.fLogSumExp, e.fCrossEntropy = e.softmaxPart, e.logSumExpPart, e.crossEntropyPart
	e.fColSums, e.fMulBlock, e.fMulBlockT, e.fBlockRed = e.colSumsPart, e.mulBlockPart, e.mulBlockTPart, e.blockReducePart
	e.fSoftmaxGrad = e.softmaxGradPart
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
		e.acc, e.acc2, e.rowSum, e.rowSeen, e.wt, e.wti, e.coef, e.softRows = nil, nil, nil, nil, nil, nil, nil, nil
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

// runChunks executes task(0), …, task(nc−1) on np goroutines (part 0 on the
// calling one, np ≤ nc): each takes the next chunk not yet taken until none
// is left, so a goroutine that streams faster, or starts sooner, takes more
// of the chunks. Which goroutine runs a chunk does not change what the
// chunk computes (its rows, its accumulator, its partial sum), and the
// chunks' results are combined in chunk order, so the bits do not depend
// on the schedule. With nc ≤ np every part is one chunk (run).
func (e *engine) runChunks(task func(int), np, nc int) {
	if nc <= np {
		e.run(task, nc)
		return
	}
	e.chunkTask, e.nchunks = task, nc
	e.nextChunk.Store(0)
	e.run(e.fChunks, np)
	e.chunkTask = nil
}

// chunksPart runs chunks until none is left (runChunks).
func (e *engine) chunksPart(int) {
	for {
		c := int(e.nextChunk.Add(1)) - 1
		if c >= e.nchunks {
			return
		}
		if reverseChunks {
			c = e.nchunks - 1 - c
		}
		e.chunkTask(c)
	}
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
func (e *engine) splitLen(n int) int { return e.splitLenMin(n, partElems) }

// splitLenMin is splitLen with parts of at least minPart elements.
func (e *engine) splitLenMin(n, minPart int) int {
	np := e.parts(n, minPart, n)
	b := e.bounds
	b[0] = 0
	for k := 1; k < np; k++ {
		b[k] = (k * n / np) &^ 7
	}
	b[np] = n
	return np
}

// splitBlock cuts the rows [0, rows) of a rows×cols block into parts of
// equal numbers of rows, each of at least minPart elements (a row counts as
// at least one), records them in e.bounds and returns their number.
func (e *engine) splitBlock(rows, cols, minPart int) int {
	np := e.parts(rows*max(cols, 1), minPart, rows)
	b := e.bounds
	b[0], b[np] = 0, rows
	for k := 1; k < np; k++ {
		b[k] = k * rows / np
	}
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

// splitChunks cuts the rows of m, a pass over which np goroutines share,
// into chunks and records them in e.bounds; it returns their number nc ≥ np.
// A pass that accumulates rows into per-chunk vectors has accCols = cols
// (0 otherwise).
//
// A pass of less than 8·np·chunkWork multiply-adds, or with np = 1, keeps
// np equal parts (splitRows). A longer one is cut by guided self-scheduling
// (Polychronopoulos & Kuck, 1987), fixed in advance: each chunk takes
// 1/(2·np) of the work not yet cut, and at least chunkWork multiply-adds
// (and accRatio·accCols), and the last chunk takes the rest when less than
// that would be left. So the chunks shrink from a quarter of the pass
// (np = 2) to the minimum (dense 20000×2000 with 2 goroutines: 19 chunks
// of 5000 rows down to 64, 1 MB), and the goroutines end their last chunks
// within about one small chunk of each other.
//
// Why: on the 2-core VM, two equal halves of a pass over 20000×2000 ended
// 6–10 % of the pass apart (median; 16–30 % in a tenth of the passes), the
// VM's two cores not streaming equally fast from pass to pass; with the
// chunks, GramVec, GLMGradNoLoss and MulVec took 1.5–9 % less time (in
// one process, alternating with equal halves in 60 rounds).
//
// The boundaries depend only on m, np and accCols, never on timing.
func (e *engine) splitChunks(m *matRef, np, accCols int) int {
	total := matWork(m)
	if np <= 1 || total < 8*np*chunkWork || !chunking {
		e.growBounds(np)
		e.splitRows(m, np)
		return np
	}
	minWork := max(chunkWork, accRatio*accCols)
	b := e.bounds[:0] // len(e.bounds) == cap(e.bounds), always
	b = append(b, 0)
	done, row := 0, 0
	for row < m.rows {
		target := done + max((total-done)/(2*np), minWork)
		if total-target < minWork {
			target = total // no runt at the end
		}
		next := m.rows
		if target < total {
			next = m.firstRowAtWork(target, row+1)
		}
		b = append(b, next)
		row, done = next, m.workBefore(next)
	}
	nc := len(b) - 1
	e.bounds = b[:cap(b)]
	return nc
}

// chunking enables splitChunks' chunks; tests and benchmarks turn it off to
// compare with equal parts, and set reverseChunks to hand the chunks out
// last first (the results must not change).
var chunking, reverseChunks = true, false

// workBefore returns the multiply-adds of the rows [0, i) (matWork's units).
func (m *matRef) workBefore(i int) int {
	if m.indptr == nil {
		return i * m.cols
	}
	return m.indptr[i] + i
}

// firstRowAtWork returns the first row i ≥ lo with workBefore(i) ≥ target
// (m.rows if none).
func (m *matRef) firstRowAtWork(target, lo int) int {
	hi := m.rows
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if m.workBefore(mid) < target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// growBounds makes e.bounds hold at least n+1 boundaries.
func (e *engine) growBounds(n int) {
	if len(e.bounds) < n+1 {
		e.bounds = make([]int, n+1)
	}
}

// growChunks makes the per-chunk scratch (zbuf, partial, and with acc the
// accumulators, n long; with acc2 those of a second product too) hold at
// least nc chunks.
func (e *engine) growChunks(nc, n int, acc, acc2 bool) {
	for len(e.zbuf) < nc {
		e.zbuf = append(e.zbuf, make([]float64, maxBlock))
	}
	for len(e.partial) < nc {
		e.partial = append(e.partial, 0)
	}
	if acc {
		growAcc(&e.acc, nc, n)
	}
	if acc2 {
		growAcc(&e.acc2, nc, n)
	}
}

// growAcc makes the accumulators (*accs)[0…nc−1] at least n long.
func growAcc(accs *[][]float64, nc, n int) {
	for len(*accs) < nc {
		*accs = append(*accs, nil)
	}
	for k, a := range (*accs)[:nc] {
		if cap(a) < n {
			(*accs)[k] = make([]float64, n)
		}
	}
}

// growRowScratch makes rowSum and rowSeen of parts 0…np−1 at least n long;
// new marks are false.
func (e *engine) growRowScratch(np, n int) {
	for len(e.rowSum) < np {
		e.rowSum, e.rowSeen = append(e.rowSum, nil), append(e.rowSeen, nil)
	}
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
