package backend

import (
	"errors"
	"testing"
)

// dense expands a CSR matrix, summing duplicates.
func (m CSRData) dense() [][]float64 {
	d := make([][]float64, m.Rows)
	for i := range d {
		d[i] = make([]float64, m.Cols)
		for k := m.Indptr[i]; k < m.Indptr[i+1]; k++ {
			d[i][m.Indices[k]] += m.Data[k]
		}
	}
	return d
}

// TestForwardDiff1D checks D entry by entry against its definition.
func TestForwardDiff1D(t *testing.T) {
	for _, n := range []int{0, 1, 2, 5} {
		m, err := ForwardDiff1D(n)
		if err != nil {
			t.Fatal(err)
		}
		if m.Rows != n || m.Cols != n || len(m.Indptr) != n+1 || m.Indptr[n] != len(m.Data) || len(m.Indices) != len(m.Data) {
			t.Fatalf("n=%d: malformed %+v", n, m)
		}
		d := m.dense()
		for i := range n {
			for j := range n {
				want := 0.0
				if i < n-1 && j == i+1 {
					want = 1
				} else if i < n-1 && j == i {
					want = -1
				}
				if d[i][j] != want {
					t.Errorf("n=%d: D[%d][%d] = %v, want %v", n, i, j, d[i][j], want)
				}
			}
		}
	}
	if _, err := ForwardDiff1D(-1); !errors.Is(err, ErrInvalid) {
		t.Errorf("ForwardDiff1D(-1): %v, want ErrInvalid", err)
	}
}

// TestForwardDiff2D checks D·u against the differences of an image
// computed directly, and the empty boundary rows.
func TestForwardDiff2D(t *testing.T) {
	for _, hw := range [][2]int{{0, 0}, {0, 3}, {1, 1}, {1, 4}, {4, 1}, {3, 5}} {
		h, w := hw[0], hw[1]
		m, err := ForwardDiff2D(h, w)
		if err != nil {
			t.Fatal(err)
		}
		n := h * w
		if m.Rows != 2*n || m.Cols != n || len(m.Indptr) != 2*n+1 || m.Indptr[2*n] != len(m.Data) {
			t.Fatalf("%d×%d: malformed %+v", h, w, m)
		}
		u := make([]float64, n)
		for p := range u {
			u[p] = float64(p*p%7) + 0.25*float64(p)
		}
		d := m.dense()
		for i := range h {
			for j := range w {
				p := i*w + j
				var gx, gy float64
				if j < w-1 {
					gx = u[p+1] - u[p]
				}
				if i < h-1 {
					gy = u[p+w] - u[p]
				}
				var dx, dy float64
				for q := range n {
					dx += d[2*p][q] * u[q]
					dy += d[2*p+1][q] * u[q]
				}
				if dx != gx || dy != gy {
					t.Errorf("%d×%d: gradient at (%d,%d) = (%v,%v), want (%v,%v)", h, w, i, j, dx, dy, gx, gy)
				}
				if (j == w-1) != (m.Indptr[2*p+1] == m.Indptr[2*p]) || (i == h-1) != (m.Indptr[2*p+2] == m.Indptr[2*p+1]) {
					t.Errorf("%d×%d: boundary rows of pixel (%d,%d) are not exactly the empty ones", h, w, i, j)
				}
			}
		}
	}
	for _, hw := range [][2]int{{-1, 2}, {2, -1}, {1 << 62, 4}} {
		if _, err := ForwardDiff2D(hw[0], hw[1]); !errors.Is(err, ErrInvalid) {
			t.Errorf("ForwardDiff2D(%d, %d): %v, want ErrInvalid", hw[0], hw[1], err)
		}
	}
}
