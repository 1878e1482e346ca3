package krylov

import (
	"fmt"
	"math"

	"github.com/hypergrad-go/hypergrad/backend"
)

// cgChunk and cgChunkTol bound how many CG iterations cgQueued queues
// between two reads of their scalars: without a tolerance the chunks grow
// 4, 8, 16, 16, …; with one they stay at 4.
const cgChunk, cgChunkTol = 16, 4

// cgQueued is CG's loop on a backend.CGStepper, without a preconditioner
// or a Monitor: the same iterations with the same bits, queued in chunks
// whose scalars (pᵀAp, α, rᵀr, β) stay on the device, then read back at
// once. The host replays the loop's bookkeeping on them (Solution,
// history, stopping tests, errors), so the solve ends as the host loop
// would. The device applies the tests on the residual norm itself (the
// tolerance, the rounding floor, a non-finite value, pᵀAp ≤ 0) and leaves
// the vectors as they were at its stop: only the products queued after a
// stop inside a chunk are extra (they ran, and are counted). A stop the
// device cannot see — divergence, a cancelled context — ends the chunk's
// replay, with x possibly a few iterations further than Iterations says.
// The chunks start at 4 iterations and double up to 16 (stay at 4 with a
// tolerance), so that a solve that stops early wastes little; on a GPU a
// chunk costs one synchronization where the host loop waits twice an
// iteration.
func cgQueued(l *loop, ws *workspace, cs backend.CGStepper, op Operator, rhs, x, r, p, ap backend.Vector, rz float64, name string) (Solution, error) {
	b := l.b
	k := l.s.MaxIter
	tol := l.target
	floor := residualFloor * math.Max(l.sol.RHSNorm, l.r0)
	st, err := ws.vec(backend.CGStateLen(cgChunk))
	if err != nil {
		l.fail(fmt.Errorf("krylov: %s: state vector: %w", name, err))
		return l.done(), nil
	}
	host := ws.hostBuf(st.Len())
	chunk := cgChunkTol
	// devStop is the device's test on a residual norm.
	devStop := func(nrm float64) bool {
		return math.IsNaN(nrm) || math.IsInf(nrm, 0) || (tol > 0 && nrm <= tol) || nrm <= floor
	}
	for i := 0; ; {
		m := min(k-i, chunk)
		if tol <= 0 {
			chunk = min(2*chunk, cgChunk)
		}
		clear(host)
		host[3] = rz
		b.Upload(st, host)
		pairJ := -1 // the step whose product comes with A x (Settings.Residual)
		canceled := false
		for j := range m {
			if j > 0 && l.ctx.Err() != nil {
				m, canceled = j, true
				break
			}
			pair := lastPair(l, i+j)
			if pair {
				pairJ = j
			}
			if err := applyP(l, op, ap, p, x, i+j, pair); err != nil {
				l.fail(fmt.Errorf("krylov: %s: applying A: %w", name, err))
				return l.done(), nil
			}
			cs.CGStep(st, j, x, r, p, ap, tol, floor)
		}
		b.Download(host, st)
		if err := b.Err(); err != nil {
			l.fail(err)
			return l.done(), nil
		}
		for j := range m {
			switch pap := host[4+2*j]; {
			case math.IsNaN(pap) || math.IsInf(pap, 0):
				l.fail(fmt.Errorf("%w: %s: pᵀAp = %v after %d iterations", ErrNonFinite, name, pap, i))
				return l.done(), nil
			case !(pap > 0):
				l.fail(fmt.Errorf("%w: %s: pᵀAp = %v after %d iterations", ErrNotPositiveDefinite, name, pap, i))
				return l.done(), nil
			}
			if j == pairJ {
				// The step ran with α = ρ/π as the device computed it.
				pairResidual(l, host[3+2*j]/host[4+2*j], ap, rhs)
			}
			i, rz = i+1, host[5+2*j]
			nrm := math.Sqrt(rz)
			if l.step(nrm) {
				if devStop(nrm) && host[0] == 0 {
					l.fail(fmt.Errorf("krylov: %s: CGStep went on where the host's tests stop", name))
				}
				return l.done(), nil
			}
		}
		if host[0] != 0 {
			l.fail(fmt.Errorf("krylov: %s: CGStep stopped where the host's tests do not", name))
			return l.done(), nil
		}
		if canceled {
			l.sol.Status, l.sol.Err = Canceled, l.ctx.Err()
			return l.done(), nil
		}
	}
}
