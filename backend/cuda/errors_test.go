//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
)

// TestLaunchFailure makes a launch fail (a grid of 0 blocks, which the
// driver rejects) and checks that it is recorded as ErrDevice naming the
// operation, and that the backend works after ClearErr.
func TestLaunchFailure(t *testing.T) {
	b := open(t)
	defer b.Close()
	x := newVecOf(t, b, []float64{1, 2, 3})
	if !b.enter("Fill") {
		t.Fatal(b.Err())
	}
	b.launch("Fill", kFill, 0, i64(3), x.(*vec).p, f64(1))
	b.drv.exit()
	err := b.Err()
	var oe *backend.OpError
	if !errors.Is(err, backend.ErrDevice) || !errors.As(err, &oe) || oe.Op != "Fill" || oe.Backend != "cuda" {
		t.Fatalf("launch of 0 blocks: error %v, want ErrDevice from cuda Fill", err)
	}
	t.Log(err)
	b.ClearErr()
	b.Scal(2, x)
	if got := b.Dot(x, x); got != 56 || b.Err() != nil {
		t.Errorf("after ClearErr: Dot = %v, error %v", got, b.Err())
	}
}
