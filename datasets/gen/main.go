// Command gen regenerates the .npz problem files of the datasets folder from
// the CSV files that scikit-learn distributes in sklearn/datasets/data/:
//
//	go run ./datasets/gen -src DIR -out datasets
//
// DIR holds breast_cancer.csv, diabetes_data_raw.csv.gz,
// diabetes_target.csv.gz, digits.csv.gz and iris.csv (for example the
// directory /usr/lib/python3/dist-packages/sklearn/datasets/data of Debian's
// python3-sklearn 1.2.1+dfsg-1). Their SHA-256 sums are checked against the
// table below unless -verify=false. The output is byte-identical on every run:
// the split and the label noise come from a seeded PCG (math/rand/v2) drawn
// through a fixed bounded-integer rule, and the archives are stored zip members
// with zero timestamps holding NumPy format 1.0 .npy arrays. gen also writes
// SHA256SUMS (sha256sum format) for the files it wrote.
//
// Preprocessing, for every set: the rows are permuted by Fisher–Yates
// (permutation, seed 1); the first ⌊2N/3⌋ rows of the permutation, in
// permutation order, are the training set and the rest the validation set.
// Every feature column is standardised with the training rows' mean and
// standard deviation (population form, 1/n): x ← (x − mean)/sd; a column
// constant on the training rows is set to 0 in both sets. Regression targets
// are standardised the same way. See datasets/README.md for the files.
package main

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// sources are the SHA-256 sums of the scikit-learn 1.2.1 data files.
var sources = map[string]string{
	"breast_cancer.csv":        "fed3eb72d0575ef6192293f5093c6e801b1476b577d0386bf4455504522172ed",
	"diabetes_data_raw.csv.gz": "fc08fc59c1cbfe65550d9ebb36321d505de9e8f004bf92c1566d2908962f08ff",
	"diabetes_target.csv.gz":   "bf1ddd1f9d377278450a5f02c24b5e77b1501f2ad673fe9fdf4c4090d27eb5cc",
	"digits.csv.gz":            "46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a",
	"iris.csv":                 "f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449",
}

const (
	splitSeed   = 1    // seed of the train/validation permutation
	noiseSeed   = 2    // seed of the hypercleaning label noise
	corruptFrac = 0.3  // fraction of hypercleaning training labels replaced
	cleanReg    = 1e-3 // hypercleaning reg
	krrRho      = 0.1  // krr ρ; γ = 1/d
	maxRows     = 100000
)

func main() {
	src := flag.String("src", "", "directory holding the scikit-learn CSV files")
	out := flag.String("out", "datasets", "output directory")
	verify := flag.Bool("verify", true, "check the SHA-256 sums of the source files")
	flag.Parse()
	if *src == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./datasets/gen -src DIR [-out DIR] [-verify=false]")
		os.Exit(2)
	}
	if err := run(*src, *out, *verify); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// table is a numeric CSV: rows of equal length.
type table struct {
	rows, cols int
	v          []float64
}

func (t *table) at(i, j int) float64 { return t.v[i*t.cols+j] }

// array is one .npy member: float64 values f or int64 values i, C order.
type array struct {
	name  string
	shape []int
	f     []float64
	i     []int64
}

func run(src, out string, verify bool) error {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			return nil, err
		}
		if sum := sha256.Sum256(b); verify && hex.EncodeToString(sum[:]) != sources[name] {
			return nil, fmt.Errorf("%s: sha256 %x, want %s (use -verify=false for other sources)", name, sum, sources[name])
		}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			b, err = io.ReadAll(io.LimitReader(zr, 64<<20))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
		}
		return b, nil
	}
	load := func(name string, sep rune, header bool, cols int) (*table, error) {
		b, err := read(name)
		if err != nil {
			return nil, err
		}
		t, err := parse(b, sep, header, cols)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return t, nil
	}
	iris, err := load("iris.csv", ',', true, 5)
	if err != nil {
		return err
	}
	cancer, err := load("breast_cancer.csv", ',', true, 31)
	if err != nil {
		return err
	}
	digits, err := load("digits.csv.gz", ',', false, 65)
	if err != nil {
		return err
	}
	diabX, err := load("diabetes_data_raw.csv.gz", ' ', false, 10)
	if err != nil {
		return err
	}
	diabY, err := load("diabetes_target.csv.gz", ' ', false, 1)
	if err != nil {
		return err
	}
	if diabX.rows != diabY.rows {
		return fmt.Errorf("diabetes: %d feature rows, %d targets", diabX.rows, diabY.rows)
	}

	files := map[string][]array{}

	// Diabetes: ridge and krr share the split and the standardisation.
	{
		s := newSplit(diabX.rows)
		xt, xv := s.features(diabX, 10)
		yt, yv := s.target(diabY.v)
		d := 10
		files["ridge-diabetes.npz"] = supervised(xt, xv, s, d, floats("y_train", yt), floats("y_val", yv),
			floats("lambda", make([]float64, d)))
		files["krr-diabetes.npz"] = supervised(xt, xv, s, d, floats("y_train", yt), floats("y_val", yv),
			floats("lambda", []float64{math.Log(krrRho), math.Log(1 / float64(d))}))
	}
	// Breast cancer: label 0 (malignant) → −1, 1 (benign) → +1.
	{
		s := newSplit(cancer.rows)
		d := 30
		xt, xv := s.features(cancer, d)
		lab, err := labels(cancer, d, 2)
		if err != nil {
			return fmt.Errorf("breast_cancer.csv: %w", err)
		}
		pm := func(idx []int) []float64 {
			y := make([]float64, len(idx))
			for k, i := range idx {
				y[k] = float64(2*lab[i] - 1)
			}
			return y
		}
		files["logreg-breast-cancer.npz"] = supervised(xt, xv, s, d, floats("y_train", pm(s.train)),
			floats("y_val", pm(s.val)), floats("lambda", make([]float64, d)))
	}
	// Iris.
	{
		s := newSplit(iris.rows)
		d := 4
		xt, xv := s.features(iris, d)
		lab, err := labels(iris, d, 3)
		if err != nil {
			return fmt.Errorf("iris.csv: %w", err)
		}
		files["multilogreg-iris.npz"] = supervised(xt, xv, s, d, ints("y_train", pick(lab, s.train)),
			ints("y_val", pick(lab, s.val)), floats("lambda", make([]float64, d)))
	}
	// Digits: multilogreg and hypercleaning share the split.
	{
		s := newSplit(digits.rows)
		d, c := 64, 10
		xt, xv := s.features(digits, d)
		lab, err := labels(digits, d, c)
		if err != nil {
			return fmt.Errorf("digits.csv.gz: %w", err)
		}
		yt, yv := pick(lab, s.train), pick(lab, s.val)
		files["multilogreg-digits.npz"] = supervised(xt, xv, s, d, ints("y_train", yt), ints("y_val", yv),
			floats("lambda", make([]float64, d)))
		noisy, corrupted := corrupt(yt, c)
		n := len(s.train)
		files["hypercleaning-digits.npz"] = supervised(xt, xv, s, d, ints("y_train", noisy), ints("y_val", yv),
			floats("lambda", make([]float64, n)),
			array{name: "reg", shape: []int{}, f: []float64{cleanReg}},
			ints("corrupted", corrupted),
			array{name: "classes", shape: []int{}, i: []int64{int64(c)}})
	}

	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var sums bytes.Buffer
	for _, name := range names {
		b, err := npz(files[name])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%x  %s\n", sum, name)
		fmt.Printf("%x  %s  %d bytes\n", sum, name, len(b))
	}
	return os.WriteFile(filepath.Join(out, "SHA256SUMS"), sums.Bytes(), 0o644)
}

// parse reads a numeric table separated by sep (' ' means runs of blanks);
// header skips the first line (scikit-learn's "N,d,names…" line). Every row
// must have cols fields.
func parse(b []byte, sep rune, header bool, cols int) (*table, error) {
	t := &table{cols: cols}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if (header && line == 1) || s == "" {
			continue
		}
		var f []string
		if sep == ' ' {
			f = strings.Fields(s)
		} else {
			f = strings.Split(s, string(sep))
		}
		if len(f) != cols {
			return nil, fmt.Errorf("line %d: %d fields, want %d", line, len(f), cols)
		}
		for _, x := range f {
			v, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, fmt.Errorf("line %d: bad number %q", line, x)
			}
			t.v = append(t.v, v)
		}
		t.rows++
		if t.rows > maxRows {
			return nil, fmt.Errorf("more than %d rows", maxRows)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if t.rows < 3 {
		return nil, fmt.Errorf("%d rows", t.rows)
	}
	return t, nil
}

// labels returns column d of t as integer classes in [0, c).
func labels(t *table, d, c int) ([]int64, error) {
	y := make([]int64, t.rows)
	for i := range y {
		v := t.at(i, d)
		if v != math.Trunc(v) || v < 0 || v >= float64(c) {
			return nil, fmt.Errorf("row %d: label %v not in 0..%d", i+1, v, c-1)
		}
		y[i] = int64(v)
	}
	return y, nil
}

func pick(y []int64, idx []int) []int64 {
	out := make([]int64, len(idx))
	for k, i := range idx {
		out[k] = y[i]
	}
	return out
}

// uniform returns a uniform integer in [0, n) from src (Lemire's multiply-
// and-reject rule: the high word of x·n, redrawing x while the low word is
// below 2⁶⁴ mod n).
func uniform(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// permutation returns a Fisher–Yates permutation of 0..n−1 drawn from src:
// for i = n−1 down to 1, swap p[i] and p[uniform(i+1)].
func permutation(src *rand.PCG, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := uniform(src, uint64(i+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// split is a train/validation split of N rows: the first ⌊2N/3⌋ entries of a
// seeded permutation train, the rest validate.
type split struct{ train, val []int }

func newSplit(n int) split {
	p := permutation(rand.NewPCG(splitSeed, 0), n)
	k := 2 * n / 3
	return split{train: p[:k], val: p[k:]}
}

// moments returns the mean and population standard deviation of f(i) over idx.
func moments(idx []int, f func(i int) float64) (mean, sd float64) {
	for _, i := range idx {
		mean += f(i)
	}
	mean /= float64(len(idx))
	for _, i := range idx {
		r := f(i) - mean
		sd += r * r
	}
	return mean, math.Sqrt(sd / float64(len(idx)))
}

// constant reports whether f is the same on every row of idx.
func constant(idx []int, f func(i int) float64) bool {
	for _, i := range idx {
		if f(i) != f(idx[0]) {
			return false
		}
	}
	return true
}

// features returns the first d columns of t on the training and validation
// rows, row-major, standardised with the training moments; a column constant
// on the training rows is 0.
func (s split) features(t *table, d int) (xt, xv []float64) {
	xt = make([]float64, len(s.train)*d)
	xv = make([]float64, len(s.val)*d)
	for j := 0; j < d; j++ {
		col := func(i int) float64 { return t.at(i, j) }
		if constant(s.train, col) {
			continue
		}
		mean, sd := moments(s.train, col)
		for k, i := range s.train {
			xt[k*d+j] = (col(i) - mean) / sd
		}
		for k, i := range s.val {
			xv[k*d+j] = (col(i) - mean) / sd
		}
	}
	return xt, xv
}

// target returns y on the training and validation rows standardised with the
// training moments.
func (s split) target(y []float64) (yt, yv []float64) {
	f := func(i int) float64 { return y[i] }
	mean, sd := moments(s.train, f)
	yt = make([]float64, len(s.train))
	yv = make([]float64, len(s.val))
	for k, i := range s.train {
		yt[k] = (y[i] - mean) / sd
	}
	for k, i := range s.val {
		yv[k] = (y[i] - mean) / sd
	}
	return yt, yv
}

// corrupt replaces round(0.3·n) of the labels y (in c classes) by a uniformly
// random other class: a Fisher–Yates permutation of 0..n−1 from a PCG seeded
// with noiseSeed picks the rows (its first k entries); then, from the same
// generator and in that order, row i gets (y_i + 1 + uniform(c−1)) mod c.
// It returns the noisy labels and the 0/1 indicator of the replaced rows.
func corrupt(y []int64, c int) (noisy, corrupted []int64) {
	n := len(y)
	src := rand.NewPCG(noiseSeed, 0)
	p := permutation(src, n)
	k := int(math.Round(corruptFrac * float64(n)))
	noisy = append([]int64(nil), y...)
	corrupted = make([]int64, n)
	for _, i := range p[:k] {
		noisy[i] = (y[i] + 1 + int64(uniform(src, uint64(c-1)))) % int64(c)
		corrupted[i] = 1
	}
	return noisy, corrupted
}

func floats(name string, v []float64) array { return array{name: name, shape: []int{len(v)}, f: v} }
func ints(name string, v []int64) array     { return array{name: name, shape: []int{len(v)}, i: v} }

// supervised returns the members X_train, y_train, X_val, y_val, then rest.
func supervised(xt, xv []float64, s split, d int, yt, yv array, rest ...array) []array {
	out := []array{
		{name: "X_train", shape: []int{len(s.train), d}, f: xt},
		yt,
		{name: "X_val", shape: []int{len(s.val), d}, f: xv},
		yv,
	}
	return append(out, rest...)
}

// npy encodes a as a NumPy format 1.0 .npy file: the magic, the header
// dictionary padded with spaces and a newline to a multiple of 64 bytes, then
// the little-endian data.
func npy(a array) ([]byte, error) {
	descr, n := "<f8", len(a.f)
	if a.i != nil {
		descr, n = "<i8", len(a.i)
	}
	want := 1
	dims := make([]string, len(a.shape))
	for k, s := range a.shape {
		want *= s
		dims[k] = strconv.Itoa(s)
	}
	if want != n || (a.f != nil && a.i != nil) {
		return nil, fmt.Errorf("%s: shape %v for %d values", a.name, a.shape, n)
	}
	shape := "(" + strings.Join(dims, ", ") + ")"
	if len(dims) == 1 {
		shape = "(" + dims[0] + ",)"
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape)
	pad := 64 - (10+len(h)+1)%64
	if pad == 64 {
		pad = 0
	}
	h += strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	_ = binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	var w [8]byte
	for _, v := range a.f {
		binary.LittleEndian.PutUint64(w[:], math.Float64bits(v))
		b.Write(w[:])
	}
	for _, v := range a.i {
		binary.LittleEndian.PutUint64(w[:], uint64(v))
		b.Write(w[:])
	}
	return b.Bytes(), nil
}

// npz encodes the members as an uncompressed zip archive (as numpy.savez
// writes), members in the given order, each stored with its CRC-32 and sizes
// in the local header and no timestamp.
func npz(members []array) ([]byte, error) {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, m := range members {
		data, err := npy(m)
		if err != nil {
			return nil, err
		}
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name:               m.name + ".npy",
			Method:             zip.Store,
			CRC32:              crc32.ChecksumIEEE(data),
			CompressedSize64:   uint64(len(data)),
			UncompressedSize64: uint64(len(data)),
		})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
