package data

// Quadratic is the data of the quadratic bilevel problem of package problems
// (Li, Gu & Huang 2022; Ehrhardt & Roberts 2024 §4.1): inner
// g(w, θ) = ‖Cθ + Dw − e‖², outer E(w) = ‖Aw − b‖². File fields: A (m1×d),
// b (m1), C (m2×h), D (m2×d), e (m2), theta (h). Note that A is the outer data
// matrix (not the Hessian of g) and B is the vector b (not ∇²_wθ g).
type Quadratic struct {
	A     *Matrix   // m1×d
	B     []float64 // b, length m1
	C     *Matrix   // m2×h
	D     *Matrix   // m2×d
	E     []float64 // e, length m2
	Theta []float64 // length h: the hyperparameters at which to differentiate
}

// Validate checks that the shapes agree (A m1×d, b m1, C m2×h, D m2×d, e m2,
// theta h, every dimension at least 1) and that every value is finite. That D
// has full column rank is checked by the problem, not here.
func (q *Quadratic) Validate() error {
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"A", q.A}, {"C", q.C}, {"D", q.D}} {
		if err := c.m.check(c.name); err != nil {
			return err
		}
		if c.m.Rows < 1 || c.m.Cols < 1 {
			return newErr(ErrShape, c.name, "%s is %d×%d; want at least 1 row and 1 column", c.name, c.m.Rows, c.m.Cols)
		}
	}
	switch {
	case len(q.B) != q.A.Rows:
		return newErr(ErrShape, "b", "b has length %d, A has %d rows", len(q.B), q.A.Rows)
	case q.D.Rows != q.C.Rows:
		return newErr(ErrShape, "D", "D has %d rows, C has %d", q.D.Rows, q.C.Rows)
	case q.D.Cols != q.A.Cols:
		return newErr(ErrShape, "D", "D has %d columns, A has %d", q.D.Cols, q.A.Cols)
	case len(q.E) != q.C.Rows:
		return newErr(ErrShape, "e", "e has length %d, C and D have %d rows", len(q.E), q.C.Rows)
	case len(q.Theta) != q.C.Cols:
		return newErr(ErrShape, "theta", "theta has length %d, C has %d columns", len(q.Theta), q.C.Cols)
	}
	for _, c := range []struct {
		name string
		m    *Matrix
	}{{"A", q.A}, {"C", q.C}, {"D", q.D}} {
		if err := c.m.checkFinite(c.name); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		name string
		v    []float64
	}{{"b", q.B}, {"e", q.E}, {"theta", q.Theta}} {
		if err := checkVector(c.name, c.v); err != nil {
			return err
		}
	}
	return nil
}

// LoadQuadratic reads and validates a quadratic problem file (.npz with A, b,
// C, D, e, theta) with the default Limits.
func LoadQuadratic(path string) (*Quadratic, error) { return Limits{}.LoadQuadratic(path) }

// LoadQuadratic is the package function LoadQuadratic with the memory budget
// of l.
func (l Limits) LoadQuadratic(path string) (*Quadratic, error) {
	a, err := l.OpenNPZ(path)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	for _, name := range []string{"A", "b", "C", "D", "e", "theta"} {
		if !a.Has(name) && !((name == "A" || name == "C" || name == "D") && a.Has(name+"_data")) {
			return nil, a.missing(name, "")
		}
	}
	q := &Quadratic{}
	if q.A, err = a.Matrix("A"); err != nil {
		return nil, err
	}
	if q.B, err = a.Vector("b"); err != nil {
		return nil, err
	}
	if q.C, err = a.Matrix("C"); err != nil {
		return nil, err
	}
	if q.D, err = a.Matrix("D"); err != nil {
		return nil, err
	}
	if q.E, err = a.Vector("e"); err != nil {
		return nil, err
	}
	if q.Theta, err = a.Vector("theta"); err != nil {
		return nil, err
	}
	if err := q.Validate(); err != nil {
		return nil, withPath(err, path)
	}
	return q, nil
}

// SaveQuadratic writes q to path as an .npz archive (float64 arrays A, b, C,
// D, e, theta). q must pass Validate.
func SaveQuadratic(path string, q *Quadratic) error {
	if err := q.Validate(); err != nil {
		return withPath(err, path)
	}
	return writeNPZ(path, []member{
		{"A", q.A}, {"b", q.B}, {"C", q.C}, {"D", q.D}, {"e", q.E}, {"theta", q.Theta},
	})
}
