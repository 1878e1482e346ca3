package bench

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/hypergrad-go/hypergrad/backend"
	"github.com/hypergrad-go/hypergrad/data"
	"github.com/hypergrad-go/hypergrad/hypergrad"
)

//go:embed peers/torch_peer.py
var torchPeer []byte

// PeerOptions configure the side-by-side run against the PyTorch peer.
type PeerOptions struct {
	Python  string // interpreter; "" → the first of python3 and /usr/bin/python3 that imports torch
	Problem string // ridge, logreg, quadratic or multilogreg
	Source  string // data source (written to a temporary .npz for the peer)
	T, K    int
	Repeats int      // alternating rounds (peer, then ours); medians are over them
	Methods []string // subset of itd, aid-fp, aid-cg
	Threads int      // torch threads; 0 → GOMAXPROCS, the cores our side uses
	// Device is the peer's torch device, "cpu" or "cuda"; "" → the
	// device of our backend (cuda for backend/cuda, else cpu), so that
	// both sides run on the same hardware.
	Device string
}

// DefaultPeerOptions is the comparison of the issue: logreg 20000 × 2000,
// κ ≈ 1e3, t = k = 50.
func DefaultPeerOptions() PeerOptions {
	return PeerOptions{Problem: "logreg", Source: "synth:n=20000,d=2000,kappa=1e3,seed=0", T: 50, K: 50, Repeats: 5,
		Methods: []string{"itd", "aid-fp", "aid-cg"}}
}

// PeerMethods parses a comma-separated list of the peer comparison's
// methods: a subset of DefaultPeerOptions().Methods (itd, aid-fp, aid-cg),
// each at most once, run in the order given.
func PeerMethods(list string) ([]string, error) {
	all := DefaultPeerOptions().Methods
	var out []string
	for _, raw := range strings.Split(list, ",") {
		n := strings.TrimSpace(raw)
		if !slices.Contains(all, n) {
			return nil, fmt.Errorf("unknown method %q (the peer runs %s)", n, strings.Join(all, ", "))
		}
		if slices.Contains(out, n) {
			return nil, fmt.Errorf("duplicate method %q in %q: each runs once", n, list)
		}
		out = append(out, n)
	}
	return out, nil
}

// PeerReport is the side-by-side comparison.
type PeerReport struct {
	Problem string  `json:"problem"`
	Source  string  `json:"source"`
	Shape   string  `json:"shape"`
	T       int     `json:"t"`
	K       int     `json:"k"`
	Alpha   float64 `json:"alpha"`
	Python  string  `json:"python"`
	Torch   string  `json:"torch"`
	Threads int     `json:"threads"`
	Rounds  int     `json:"rounds"`
	BLAS    string  `json:"blas"`
	// PeerDevice is the torch device the peer ran on ("cpu" or the GPU's
	// name), OursDevice our backend's Device().
	PeerDevice string `json:"peer_device"`
	OursDevice string `json:"ours_device"`
	// ProblemBytes is the device bytes our problem holds once built (data
	// and work vectors), DataNNZ the stored values of its data matrices.
	ProblemBytes int64        `json:"problem_device_bytes"`
	DataNNZ      int64        `json:"data_nnz"`
	Methods      []PeerMethod `json:"methods"`
	// GemvSeconds are the peer's X@v and Xᵀ@r times (median), and
	// GemvGBps the bandwidth they reach (bytes of X per second).
	GemvSeconds map[string]float64 `json:"gemv_seconds,omitempty"`
	GemvGBps    map[string]float64 `json:"gemv_gb_per_s,omitempty"`
	// OracleSeconds and OracleGBps are ours, in the same run: the fused
	// inner gradient and Hessian-vector product, each one pass over X, and
	// "x_matvec", our X·v (MulVec on a copy of X: the loop of the peer's
	// dgemv), timed in the same rounds as the fused passes, so that their
	// ratio to it does not depend on the machine's drift between processes.
	OracleSeconds map[string]float64 `json:"oracle_seconds,omitempty"`
	OracleGBps    map[string]float64 `json:"oracle_gb_per_s,omitempty"`
}

// PeerMethod compares one method.
type PeerMethod struct {
	Method string  `json:"method"`
	Ours   Stat    `json:"ours_seconds"`
	Peer   Stat    `json:"peer_seconds"`
	Ratio  float64 `json:"ratio_ours_over_peer"` // median over median
	// RoundRatios are the paired ratios, one per round: our time over the
	// peer's (its median when it timed more than once) in the same round,
	// seconds apart, so that drift of the machine between rounds cancels;
	// Paired is their median, min and max.
	RoundRatios []float64 `json:"round_ratios"`
	Paired      Stat      `json:"paired_ratio"`
	RelDiff     float64   `json:"rel_difference"` // ‖ours − peer‖/‖peer‖
	// PeakBytes is the most device bytes our backend held during one
	// estimate (the problem's data and vectors included), sampled at every
	// iteration in a separate, untimed run.
	PeakBytes int64 `json:"peak_device_bytes"`
}

// FindPython returns the interpreter to use: python if given (it must import
// torch), else the first of python3 and /usr/bin/python3 that imports torch.
func FindPython(python string) (string, error) {
	cands := []string{"python3", "/usr/bin/python3"}
	if python != "" {
		cands = []string{python}
	}
	var tried []string
	for _, c := range cands {
		path, err := exec.LookPath(c)
		if err != nil {
			tried = append(tried, c+": not found")
			continue
		}
		if out, err := exec.Command(path, "-c", "import torch").CombinedOutput(); err != nil {
			tried = append(tried, fmt.Sprintf("%s: cannot import torch (%s)", path, firstLine(string(out))))
			continue
		}
		return path, nil
	}
	return "", fmt.Errorf("no Python with PyTorch (%s); install Debian's python3-torch or pass -python", strings.Join(tried, "; "))
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// RunPeers runs our estimators and the PyTorch peer on the same data with
// the same step size, t and k, in Repeats alternating rounds, and compares
// the median times and the hypergradients.
func (r *Runner) RunPeers(ctx context.Context, o PeerOptions) (*PeerReport, error) {
	python, err := r.peerSetup(o.Python, &o.Threads, &o.Device)
	if err != nil {
		return nil, err
	}
	if o.Repeats < 1 || o.T < 0 || o.K < 0 || len(o.Methods) == 0 {
		return nil, fmt.Errorf("peers: want Repeats ≥ 1, T, K ≥ 0 and a method (have %d, %d, %d, %d)", o.Repeats, o.T, o.K, len(o.Methods))
	}
	dir, err := os.MkdirTemp("", "hypergrad-peer-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	d, err := data.Load(o.Problem, o.Source)
	if err != nil {
		return nil, err
	}
	npz := filepath.Join(dir, "data.npz")
	var nnz int64
	switch v := d.(type) {
	case *data.Supervised:
		err = data.SaveSupervised(npz, v)
		nnz = int64(v.XTrain.NNZ() + v.XVal.NNZ())
	case *data.Quadratic:
		err = data.SaveQuadratic(npz, v)
		nnz = int64(v.A.NNZ() + v.C.NNZ() + v.D.NNZ())
	case *data.Multiclass:
		err = data.SaveMulticlass(npz, v)
		nnz = int64(v.XTrain.NNZ() + v.XVal.NNZ())
	default:
		err = fmt.Errorf("peers: problem %s has no PyTorch peer (ridge, logreg, quadratic, multilogreg)", o.Problem)
	}
	if err != nil {
		return nil, err
	}
	script := filepath.Join(dir, "torch_peer.py")
	if err := os.WriteFile(script, torchPeer, 0o644); err != nil {
		return nil, err
	}
	before := r.Backend.Allocated()
	p, shape, err := NewProblem(r.Backend, ProblemSpec{Name: o.Problem, Problem: o.Problem, Source: o.Source})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	problemBytes := r.Backend.Allocated() - before
	c, err := p.Constants()
	if err != nil {
		return nil, err
	}
	alpha := 2 / (c.L.Value + c.Mu.Value)
	rep := &PeerReport{Problem: o.Problem, Source: o.Source, Shape: shape, T: o.T, K: o.K, Alpha: alpha, Python: python, Threads: o.Threads, Rounds: o.Repeats,
		OursDevice: r.Backend.Device(), ProblemBytes: problemBytes, DataNNZ: nnz}

	var xBytes float64
	sv, supervised := d.(*data.Supervised)
	var mv *matVec // dense X only
	if supervised {
		xBytes = float64(len(sv.XTrain.Data) * 8)
		if !sv.XTrain.IsCSR() {
			if mv, err = newMatVec(r.Backend, sv.XTrain); err != nil {
				return nil, err
			}
			defer mv.free()
		}
	}
	// Alternating rounds: the peer (every method once, and its X@v, Xᵀ@r),
	// then ours (our fused passes, every method once). The memory bandwidth
	// of a shared machine drifts over minutes; alternating exposes both
	// sides to the same drift, and the medians are over the rounds.
	peerSec, oursSec := map[string][]float64{}, map[string][]float64{}
	roundRatio, peerRound := map[string][]float64{}, map[string]float64{}
	gemv, oracle := map[string][]float64{}, map[string][]float64{}
	peerHG, oursHG := map[string][]float64{}, map[string][]float64{}
	for round := 0; round < o.Repeats; round++ {
		r.Progress.Step(fmt.Sprintf("peer: PyTorch, round %d", round+1))
		out, err := runPeerScript(ctx, python, script, npz, o.Device, o.Problem, o.Methods, o.T, o.K, alpha, 1, o.Threads)
		if err != nil {
			return nil, err
		}
		rep.Torch, rep.Threads, rep.PeerDevice = out.Torch, out.Threads, out.Device
		rep.BLAS = blasInfo(out.Config)
		if len(out.BLASLibs) > 0 {
			rep.BLAS += " (" + strings.Join(out.BLASLibs, ", ") + ")"
		}
		for k, ts := range out.Gemv {
			gemv[k] = append(gemv[k], stat(ts).Median)
		}
		for _, name := range o.Methods {
			pm, ok := out.Methods[name]
			if !ok {
				return nil, fmt.Errorf("peer did not run %s", name)
			}
			if len(pm.Seconds) == 0 {
				return nil, fmt.Errorf("peer gave no time for %s", name)
			}
			peerSec[name] = append(peerSec[name], pm.Seconds...)
			peerHG[name] = pm.Hypergradient
			peerRound[name] = stat(pm.Seconds).Median
		}
		r.Progress.Step(fmt.Sprintf("peer: ours, round %d", round+1))
		var wt []float64 // the inner iterate w_t of our last estimate
		for _, name := range o.Methods {
			e, err := MethodSpec{Name: name, Inner: "gd"}.Estimator(o.T, o.K)
			if err != nil {
				return nil, err
			}
			res, err := withSteps(e, alpha).Estimate(ctx, p, nil)
			if err != nil {
				return nil, err
			}
			oursSec[name] = append(oursSec[name], res.Time.Total.Seconds())
			roundRatio[name] = append(roundRatio[name], res.Time.Total.Seconds()/peerRound[name])
			oursHG[name] = res.Hypergradient
			wt = res.W
		}
		// The fused passes, timed at w_t (their cost does not depend on w;
		// no exact reference is needed, which costs O(n·d²) per Newton step
		// on large data).
		if supervised && len(wt) == p.InnerDim() {
			st, err := r.timeOracles(p, wt)
			if err != nil {
				return nil, err
			}
			for _, k := range []string{"inner_grad", "hess_vec"} {
				oracle[k] = append(oracle[k], st[k].Median)
			}
			if mv != nil {
				xv, err := timeIt(r.Backend, r.Suite.Repeats, mv.run)
				if err != nil {
					return nil, err
				}
				oracle["x_matvec"] = append(oracle["x_matvec"], xv.Median)
			}
		}
	}
	if supervised && len(gemv) > 0 {
		rep.GemvSeconds, rep.GemvGBps = map[string]float64{}, map[string]float64{}
		for k, ts := range gemv {
			med := stat(ts).Median
			rep.GemvSeconds[k], rep.GemvGBps[k] = med, xBytes/med/1e9
		}
		rep.OracleSeconds, rep.OracleGBps = map[string]float64{}, map[string]float64{}
		for k, ts := range oracle {
			med := stat(ts).Median
			rep.OracleSeconds[k], rep.OracleGBps[k] = med, xBytes/med/1e9
		}
	}
	for _, name := range o.Methods {
		so, sp := stat(oursSec[name]), stat(peerSec[name])
		peak, err := peakBytes(ctx, p, name, o.T, o.K, alpha)
		if err != nil {
			return nil, err
		}
		rep.Methods = append(rep.Methods, PeerMethod{Method: name, Ours: so, Peer: sp, Ratio: so.Median / sp.Median,
			RoundRatios: roundRatio[name], Paired: stat(roundRatio[name]), RelDiff: relErr(oursHG[name], peerHG[name]),
			PeakBytes: peak})
	}
	return rep, nil
}

// peakBytes runs the method once more, untimed, sampling the backend's
// allocated bytes at every iteration, and returns their maximum.
func peakBytes(ctx context.Context, p problem, name string, t, k int, alpha float64) (int64, error) {
	e, err := MethodSpec{Name: name, Inner: "gd"}.Estimator(t, k)
	if err != nil {
		return 0, err
	}
	b := p.Backend()
	peak := b.Allocated()
	sample := func(hypergrad.Progress) error {
		peak = max(peak, b.Allocated())
		return nil
	}
	switch v := withSteps(e, alpha).(type) {
	case *hypergrad.AID:
		v.Monitor = sample
	case *hypergrad.ITD:
		v.Monitor = sample
	}
	if _, err := e.Estimate(ctx, p, nil); err != nil {
		return 0, err
	}
	return max(peak, b.Allocated()), nil
}

// peerOutput is what torch_peer.py prints.
type peerOutput struct {
	Torch    string   `json:"torch"`
	Device   string   `json:"device"`
	Threads  int      `json:"threads"`
	Config   string   `json:"config"`
	BLASLibs []string `json:"blas_libraries"`
	Methods  map[string]struct {
		Seconds       []float64 `json:"seconds"`
		Hypergradient []float64 `json:"hypergradient"`
	} `json:"methods"`
	Gemv map[string][]float64 `json:"gemv_seconds"`
}

// peerSetup resolves the options the peer comparisons share: the Python to
// run (FindPython), the torch threads (0 → GOMAXPROCS, the cores our side
// uses) and the device (peerDevice).
func (r *Runner) peerSetup(python string, threads *int, device *string) (string, error) {
	path, err := FindPython(python)
	if err != nil {
		return "", err
	}
	if *threads <= 0 {
		*threads = runtime.GOMAXPROCS(0)
	}
	if *device, err = peerDevice(*device, r.Backend.Name()); err != nil {
		return "", err
	}
	return path, nil
}

// peerDevice resolves PeerOptions.Device: "" → "cuda" when our backend is
// CUDA, else "cpu".
func peerDevice(device, backendName string) (string, error) {
	switch device {
	case "":
		if backendName == "cuda" {
			return "cuda", nil
		}
		return "cpu", nil
	case "cpu", "cuda":
		return device, nil
	}
	return "", fmt.Errorf("peer device %q: want cpu or cuda", device)
}

// CheckPeerDevice reports an error unless device is a valid
// PeerOptions.Device: "", "cpu" or "cuda".
func CheckPeerDevice(device string) error {
	_, err := peerDevice(device, "")
	return err
}

// runPeerScript runs torch_peer.py on the .npz data on the torch device
// with the given methods, t, k, step and threads, and decodes its output.
func runPeerScript(ctx context.Context, python, script, npz, device, problem string, methods []string, t, k int, alpha float64, repeats, threads int) (*peerOutput, error) {
	cmd := exec.CommandContext(ctx, python, script, "--data", npz, "--device", device, "--problem", problem,
		"--methods", strings.Join(methods, ","), "--t", fmt.Sprint(t), "--k", fmt.Sprint(k),
		"--alpha", fmt.Sprintf("%.17g", alpha), "--repeats", fmt.Sprint(repeats), "--threads", fmt.Sprint(threads))
	cmd.Env = append(os.Environ(), fmt.Sprintf("OMP_NUM_THREADS=%d", threads), fmt.Sprintf("OPENBLAS_NUM_THREADS=%d", threads))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("peer %s: %v: %s", python, err, firstLine(stderr.String()))
	}
	var out peerOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("peer output: %w", err)
	}
	return &out, nil
}

// withSteps fixes the gradient-descent and fixed-point steps to alpha, as
// the peer uses.
func withSteps(e hypergrad.Estimator, alpha float64) hypergrad.Estimator {
	switch v := e.(type) {
	case *hypergrad.AID:
		v.Inner = hypergrad.GradientDescent{Step: alpha}
		if _, ok := v.Linear.(hypergrad.FixedPoint); ok {
			v.Linear = hypergrad.FixedPoint{Step: alpha}
		}
	case *hypergrad.ITD:
		v.Inner = hypergrad.GradientDescent{Step: alpha}
	}
	return e
}

// blasInfo extracts the BLAS line of torch.__config__.show().
func blasInfo(config string) string {
	for _, field := range strings.FieldsFunc(config, func(r rune) bool { return r == ',' || r == '\n' }) {
		if i := strings.Index(field, "BLAS_INFO="); i >= 0 {
			return strings.TrimSpace(field[i:])
		}
	}
	return "unknown"
}

func writePeers(b *strings.Builder, pr *PeerReport) {
	fmt.Fprintf(b, "## Side by side with PyTorch\n\n`%s` (%s, %s), t = %d, k = %d, α = %.6g, float64, %d threads on both sides. Ours on %s; the peer on %s: PyTorch %s, %s, via %s. Medians over %d alternating rounds (the peer, then ours), so that both sides see the same drift of the machine's memory bandwidth; the paired ratio is the median of each round's ratio (ours over the peer's, seconds apart).\n\n",
		pr.Source, pr.Problem, pr.Shape, pr.T, pr.K, pr.Alpha, pr.Threads, pr.OursDevice, orUnknown(pr.PeerDevice), pr.Torch, pr.BLAS, pr.Python, pr.Rounds)
	b.WriteString("| method | ours (median, min–max) | PyTorch (median, min–max) | time ratio ours/PyTorch | paired ratio (median, min–max) | ‖ours − PyTorch‖/‖PyTorch‖ | our peak device bytes |\n|---|---|---|---|---|---|---|\n")
	for _, m := range pr.Methods {
		fmt.Fprintf(b, "| %s | %s (%s–%s) | %s (%s–%s) | %.3f | %.3f (%.3f–%.3f) | %.2g | %s |\n", m.Method, dur(m.Ours.Median), dur(m.Ours.Min), dur(m.Ours.Max),
			dur(m.Peer.Median), dur(m.Peer.Min), dur(m.Peer.Max), m.Ratio, m.Paired.Median, m.Paired.Min, m.Paired.Max, m.RelDiff, mib(m.PeakBytes))
	}
	fmt.Fprintf(b, "\nOur problem holds %s on the device once built (data with %d stored values and work vectors); the peak column adds the estimator's vectors.\n",
		mib(pr.ProblemBytes), pr.DataNNZ)
	if len(pr.GemvSeconds) > 0 {
		lib := "cuBLAS"
		if pr.PeerDevice == "" || strings.Contains(pr.PeerDevice, "cpu") {
			lib = "its CPU BLAS"
		}
		fmt.Fprintf(b, "\nPeer BLAS passes over X (%s): X@v %s (%.3g GB/s), Xᵀ@r %s (%.3g GB/s).\n", lib, dur(pr.GemvSeconds["X@v"]), pr.GemvGBps["X@v"],
			dur(pr.GemvSeconds["X.T@r"]), pr.GemvGBps["X.T@r"])
	}
	if len(pr.OracleGBps) > 0 && pr.GemvGBps["X@v"] > 0 {
		gv := pr.GemvGBps["X@v"]
		fmt.Fprintf(b, "Ours, one fused pass each: inner gradient %s (%.3g GB/s, %.0f %% of the peer's X@v), Hessian-vector product %s (%.3g GB/s, %.0f %%).\n",
			dur(pr.OracleSeconds["inner_grad"]), pr.OracleGBps["inner_grad"], 100*pr.OracleGBps["inner_grad"]/gv,
			dur(pr.OracleSeconds["hess_vec"]), pr.OracleGBps["hess_vec"], 100*pr.OracleGBps["hess_vec"]/gv)
		if xv := pr.OracleGBps["x_matvec"]; xv > 0 {
			fmt.Fprintf(b, "Our X·v (MulVec, the loop of the peer's X@v), timed next to them in our process: %s (%.3g GB/s, %.0f %% of the peer's X@v, measured in another process); the fused passes reach %.0f %% and %.0f %% of it.\n",
				dur(pr.OracleSeconds["x_matvec"]), xv, 100*xv/gv, 100*pr.OracleGBps["inner_grad"]/xv, 100*pr.OracleGBps["hess_vec"]/xv)
		}
	}
	b.WriteString("\n")
}

// mib formats a byte count in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// matVec is X·v on the backend, for the peer comparison's yardstick: a copy
// of the training matrix (dense) and the vectors of the product.
type matVec struct {
	b      backend.Backend
	m      backend.Matrix
	v, out backend.Vector
}

func newMatVec(b backend.Backend, x *data.Matrix) (*matVec, error) {
	m, err := b.NewDense(x.Rows, x.Cols, x.Data)
	if err != nil {
		return nil, err
	}
	mv := &matVec{b: b, m: m}
	if mv.v, err = b.NewVector(x.Cols); err == nil {
		mv.out, err = b.NewVector(x.Rows)
	}
	if err != nil {
		mv.free()
		return nil, err
	}
	b.Fill(mv.v, 1)
	return mv, nil
}

func (mv *matVec) run() error {
	mv.b.MulVec(mv.out, 1, mv.m, mv.v, 0)
	return mv.b.Err()
}

func (mv *matVec) free() {
	mv.b.FreeMatrix(mv.m)
	for _, v := range []backend.Vector{mv.v, mv.out} {
		if v != nil {
			mv.b.Free(v)
		}
	}
}
