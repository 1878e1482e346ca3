package data

import "math"

// numpyRandom reproduces numpy's legacy global generator after
// np.random.seed(seed) with an integer seed: MT19937 initialised by
// init_genrand, random_sample (rand) as 53-bit doubles, and the legacy polar
// Box–Muller standard normal (randn) that caches its second value.
type numpyRandom struct {
	mt       [624]uint32
	idx      int
	hasGauss bool
	gauss    float64
}

func newNumpyRandom(seed uint32) *numpyRandom {
	r := &numpyRandom{}
	r.mt[0] = seed
	for i := 1; i < 624; i++ {
		r.mt[i] = 1812433253*(r.mt[i-1]^(r.mt[i-1]>>30)) + uint32(i)
	}
	r.idx = 624
	return r
}

// uint32 returns the next MT19937 output (genrand_int32).
func (r *numpyRandom) uint32() uint32 {
	const (
		n, m      = 624, 397
		matrixA   = 0x9908b0df
		upperMask = 0x80000000
		lowerMask = 0x7fffffff
	)
	if r.idx >= n {
		for k := 0; k < n; k++ {
			y := r.mt[k]&upperMask | r.mt[(k+1)%n]&lowerMask
			v := r.mt[(k+m)%n] ^ y>>1
			if y&1 != 0 {
				v ^= matrixA
			}
			r.mt[k] = v
		}
		r.idx = 0
	}
	y := r.mt[r.idx]
	r.idx++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// float64 returns a double in [0, 1) as numpy's random_sample does.
func (r *numpyRandom) float64() float64 {
	a := r.uint32() >> 5
	b := r.uint32() >> 6
	return (float64(a)*67108864 + float64(b)) / 9007199254740992
}

// normFloat64 returns a standard normal as numpy's legacy randn does.
func (r *numpyRandom) normFloat64() float64 {
	if r.hasGauss {
		r.hasGauss = false
		return r.gauss
	}
	var x1, x2, r2 float64
	for {
		x1 = 2*r.float64() - 1
		x2 = 2*r.float64() - 1
		r2 = float64(x1*x1) + float64(x2*x2) // no FMA fusion, as numpy on x86-64
		if r2 < 1 && r2 != 0 {
			break
		}
	}
	f := math.Sqrt(-2 * math.Log(r2) / r2)
	r.gauss = f * x1
	r.hasGauss = true
	return f * x2
}
