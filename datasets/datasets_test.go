package datasets_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend"
	_ "github.com/hypergrad-go/hypergrad/backend/cpu"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/problems"
)

// file describes one .npz file of the folder: its rows N before the split,
// features d, classes c (0 for real targets, 2 for ±1 labels) and the members
// with their dtypes.
type file struct {
	name    string
	n, d, c int
	members map[string]string // name → dtype
	lambda  int               // length of lambda
}

var (
	supervisedMembers = map[string]string{"X_train": "<f8", "y_train": "<f8", "X_val": "<f8", "y_val": "<f8", "lambda": "<f8"}
	multiMembers      = map[string]string{"X_train": "<f8", "y_train": "<i8", "X_val": "<f8", "y_val": "<i8", "lambda": "<f8"}
	cleaningMembers   = map[string]string{"X_train": "<f8", "y_train": "<i8", "X_val": "<f8", "y_val": "<i8", "lambda": "<f8",
		"reg": "<f8", "corrupted": "<i8", "classes": "<i8"}
)

var files = []file{
	{"ridge-diabetes.npz", 442, 10, 0, supervisedMembers, 10},
	{"krr-diabetes.npz", 442, 10, 0, supervisedMembers, 2},
	{"logreg-breast-cancer.npz", 569, 30, 2, supervisedMembers, 30},
	{"multilogreg-iris.npz", 150, 4, 3, multiMembers, 4},
	{"multilogreg-digits.npz", 1797, 64, 10, multiMembers, 64},
	{"hypercleaning-digits.npz", 1797, 64, 10, cleaningMembers, 2 * 1797 / 3},
}

// TestChecksums checks every file against SHA256SUMS, that SHA256SUMS lists
// exactly the .npz files of the folder, and that README.md states each sum
// on the file's line.
func TestChecksums(t *testing.T) {
	f, err := os.Open("SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS: bad line %q", sc.Text())
		}
		listed = append(listed, name)
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, SHA256SUMS says %s", name, got, sum)
		}
		found := false
		for _, line := range strings.Split(string(readme), "\n") {
			if strings.Contains(line, name) && strings.Contains(line, sum) {
				found = true
			}
		}
		if !found {
			t.Errorf("README.md has no line with %s and its sum %s", name, sum)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	present, err := filepath.Glob("*.npz")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		want = append(want, f.name)
	}
	slices.Sort(present)
	slices.Sort(listed)
	slices.Sort(want)
	if !slices.Equal(present, listed) || !slices.Equal(present, want) {
		t.Errorf("files %v, SHA256SUMS lists %v, test expects %v", present, listed, want)
	}
}

// read returns every member of the file, checking names, dtypes, shapes and
// finiteness.
func read(t *testing.T, f file) map[string]*data.Array {
	t.Helper()
	a, err := data.OpenNPZ(f.name)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var want []string
	for name := range f.members {
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(a.Names(), want) {
		t.Fatalf("%s: members %v, want %v", f.name, a.Names(), want)
	}
	n := 2 * f.n / 3
	m := f.n - n
	shapes := map[string][]int{"X_train": {n, f.d}, "y_train": {n}, "X_val": {m, f.d}, "y_val": {m},
		"lambda": {f.lambda}, "reg": {}, "corrupted": {n}, "classes": {}}
	out := map[string]*data.Array{}
	for name, dtype := range f.members {
		arr, err := a.Array(name)
		if err != nil {
			t.Fatal(err)
		}
		if arr.DType != dtype || !reflect.DeepEqual(arr.Shape, shapes[name]) {
			t.Errorf("%s: %s is %s %v, want %s %v", f.name, name, arr.DType, arr.Shape, dtype, shapes[name])
		}
		for i, v := range arr.Data {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%s: %s[%d] = %v", f.name, name, i, v)
			}
		}
		out[name] = arr
	}
	return out
}

// checkStandardised checks that each column of the rows×cols matrix x has
// mean 0 and population standard deviation 1 within 1e-12, or is constant;
// it returns the constant columns.
func checkStandardised(t *testing.T, what string, x []float64, rows, cols int) []int {
	t.Helper()
	var constant []int
	for j := 0; j < cols; j++ {
		same := true
		mean := 0.0
		for i := 0; i < rows; i++ {
			mean += x[i*cols+j]
			same = same && x[i*cols+j] == x[j]
		}
		if same {
			constant = append(constant, j)
			continue
		}
		mean /= float64(rows)
		ss := 0.0
		for i := 0; i < rows; i++ {
			r := x[i*cols+j] - mean
			ss += r * r
		}
		if sd := math.Sqrt(ss / float64(rows)); math.Abs(mean) > 1e-12 || math.Abs(sd-1) > 1e-12 {
			t.Errorf("%s column %d: mean %g, sd %.17g", what, j, mean, sd)
		}
	}
	return constant
}

// checkLabels checks that y holds integers in [0, c) and uses every class.
func checkLabels(t *testing.T, what string, y []float64, c int) {
	t.Helper()
	seen := make([]bool, c)
	for i, v := range y {
		if v != math.Trunc(v) || v < 0 || v >= float64(c) {
			t.Fatalf("%s[%d] = %v, not a class in 0..%d", what, i, v, c-1)
		}
		seen[int(v)] = true
	}
	if slices.Contains(seen, false) {
		t.Errorf("%s: classes present %v", what, seen)
	}
}

func TestFiles(t *testing.T) {
	arrays := map[string]map[string]*data.Array{}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			a := read(t, f)
			arrays[f.name] = a
			n, m := a["y_train"].Shape[0], a["y_val"].Shape[0]
			constant := checkStandardised(t, "X_train", a["X_train"].Data, n, f.d)
			for _, j := range constant { // a feature constant in training is 0 everywhere
				for i := 0; i < n; i++ {
					if a["X_train"].Data[i*f.d+j] != 0 {
						t.Fatalf("constant column %d: X_train[%d] = %v", j, i, a["X_train"].Data[i*f.d+j])
					}
				}
				for i := 0; i < m; i++ {
					if a["X_val"].Data[i*f.d+j] != 0 {
						t.Fatalf("constant column %d: X_val[%d] = %v", j, i, a["X_val"].Data[i*f.d+j])
					}
				}
			}
			switch {
			case f.c == 0:
				checkStandardised(t, "y_train", a["y_train"].Data, n, 1)
			case f.c == 2:
				for _, y := range [][]float64{a["y_train"].Data, a["y_val"].Data} {
					p := make([]float64, len(y))
					for i, v := range y {
						if v != -1 && v != 1 {
							t.Fatalf("label %v not ±1", v)
						}
						p[i] = (v + 1) / 2
					}
					checkLabels(t, "labels", p, 2)
				}
			default:
				checkLabels(t, "y_train", a["y_train"].Data, f.c)
				checkLabels(t, "y_val", a["y_val"].Data, f.c)
			}
			if f.name != "krr-diabetes.npz" {
				for i, v := range a["lambda"].Data {
					if v != 0 {
						t.Errorf("lambda[%d] = %v, want 0", i, v)
					}
				}
			}
		})
	}
	if t.Failed() {
		return
	}

	// krr and ridge share the diabetes split; krr's λ = (log 0.1, log(1/d)).
	krr, ridge := arrays["krr-diabetes.npz"], arrays["ridge-diabetes.npz"]
	for _, name := range []string{"X_train", "y_train", "X_val", "y_val"} {
		if !slices.Equal(krr[name].Data, ridge[name].Data) {
			t.Errorf("krr-diabetes and ridge-diabetes differ in %s", name)
		}
	}
	if l := krr["lambda"].Data; l[0] != math.Log(0.1) || l[1] != math.Log(1.0/10) {
		t.Errorf("krr lambda = %v, want (log 0.1, log 0.1)", l)
	}

	// hypercleaning shares the digits split with multilogreg; its labels differ
	// from the clean ones exactly on the round(0.3 n) corrupted rows.
	hc, clean := arrays["hypercleaning-digits.npz"], arrays["multilogreg-digits.npz"]
	for _, name := range []string{"X_train", "X_val", "y_val"} {
		if !slices.Equal(hc[name].Data, clean[name].Data) {
			t.Errorf("hypercleaning-digits and multilogreg-digits differ in %s", name)
		}
	}
	n := len(hc["y_train"].Data)
	count := 0
	for i, c := range hc["corrupted"].Data {
		if c != 0 && c != 1 {
			t.Fatalf("corrupted[%d] = %v", i, c)
		}
		if differ := hc["y_train"].Data[i] != clean["y_train"].Data[i]; differ != (c == 1) {
			t.Errorf("row %d: corrupted = %v, noisy label %v, clean %v", i, c, hc["y_train"].Data[i], clean["y_train"].Data[i])
		}
		count += int(c)
	}
	if want := int(math.Round(0.3 * float64(n))); count != want {
		t.Errorf("%d corrupted labels, want round(0.3·%d) = %d", count, n, want)
	}
	if r, c := hc["reg"].Data, hc["classes"].Data; r[0] != 1e-3 || c[0] != 10 {
		t.Errorf("reg %v classes %v, want 1e-3 and 10", r, c)
	}
}

// TestLoadSupervised loads the ridge and logreg files with the package's
// loader and label rules.
func TestLoadSupervised(t *testing.T) {
	for _, c := range []struct {
		name   string
		labels data.Labels
		rows   int
		cols   int
	}{
		{"ridge-diabetes.npz", data.RealLabels, 294, 10},
		{"logreg-breast-cancer.npz", data.BinaryLabels, 379, 30},
	} {
		s, err := data.LoadSupervised(c.name, c.labels)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(c.labels); err != nil {
			t.Fatal(err)
		}
		if s.XTrain.IsCSR() || s.XTrain.Rows != c.rows || s.XTrain.Cols != c.cols || len(s.Lambda) != c.cols {
			t.Errorf("%s: X_train %d×%d (CSR %v), lambda %d", c.name, s.XTrain.Rows, s.XTrain.Cols, s.XTrain.IsCSR(), len(s.Lambda))
		}
	}
}

// TestLoadEveryFile: every file loads through data.Load as the problem its
// name starts with, builds that problem on the CPU backend, and its exact
// reference reaches a small inner gradient.
func TestLoadEveryFile(t *testing.T) {
	files, err := filepath.Glob("*.npz")
	if err != nil || len(files) != 6 {
		t.Fatalf("%d files: %v", len(files), err)
	}
	b, err := backend.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, f := range files {
		family, _, _ := strings.Cut(f, "-")
		d, err := data.Load(family, f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		p, shape, err := problems.New(b, family, d)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		ref, err := p.Reference()
		if err != nil {
			t.Errorf("%s (%s): reference: %v", f, shape, err)
		} else if !(ref.InnerGradNorm < 1e-12) {
			t.Errorf("%s (%s): reference ‖∇g‖ = %g", f, shape, ref.InnerGradNorm)
		}
		p.Close()
	}
}
