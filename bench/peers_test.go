package bench

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hypergrad-go/hypergrad/backend/cpu"
)

// fakePython stands in for a Python with PyTorch: it accepts the import
// probe, counts its invocations, and prints a fixed peer result (1.5 s per
// method, a hypergradient of ones) that names the device it was given.
const fakePython = `#!/bin/sh
if [ "$1" = "-c" ]; then exit 0; fi
echo run >> "$FAKE_PEER_COUNT"
dev=none
while [ $# -gt 0 ]; do if [ "$1" = "--device" ]; then dev=$2; fi; shift; done
ones=1,1,1,1,1,1,1,1,1,1
printf '{"torch":"fake","device":"fake-%s","threads":2,"config":"BLAS_INFO=fake","blas_libraries":[],"gemv_seconds":{"X@v":[0.001],"X.T@r":[0.002]},"methods":{' "$dev"
printf '"itd":{"seconds":[1.5],"hypergradient":[%s]},"aid-cg":{"seconds":[1.5],"hypergradient":[%s]}}}' "$ones" "$ones"
`

// TestRunPeersAlternates: the side-by-side comparison runs the peer once per
// round (with one repeat), ours once per round, and takes medians over the
// rounds.
func TestRunPeersAlternates(t *testing.T) {
	dir := t.TempDir()
	python := filepath.Join(dir, "python3")
	if err := os.WriteFile(python, []byte(fakePython), 0o755); err != nil {
		t.Fatal(err)
	}
	count := filepath.Join(dir, "count")
	t.Setenv("FAKE_PEER_COUNT", count)
	b := cpu.New(cpu.Options{})
	defer b.Close()
	r := &Runner{Suite: Quick(), Backend: b}
	allocated := b.Allocated()
	o := PeerOptions{Python: python, Problem: "logreg", Source: "synth:n=200,d=10,kappa=10,seed=1", T: 5, K: 5, Repeats: 3,
		Methods: []string{"itd", "aid-cg"}}
	rep, err := r.RunPeers(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := os.ReadFile(count)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(runs), "run"); n != 3 || rep.Rounds != 3 {
		t.Errorf("peer ran %d times, %d rounds reported; want 3", n, rep.Rounds)
	}
	if len(rep.Methods) != 2 {
		t.Fatalf("%d methods", len(rep.Methods))
	}
	for _, m := range rep.Methods {
		if m.Peer.N != 3 || m.Ours.N != 3 || m.Peer.Median != 1.5 || !(m.Ours.Median > 0) || m.Ratio != m.Ours.Median/1.5 {
			t.Errorf("%s: peer %+v, ours %+v, ratio %v", m.Method, m.Peer, m.Ours, m.Ratio)
		}
		if len(m.RoundRatios) != 3 || m.Paired.N != 3 {
			t.Errorf("%s: round ratios %v, paired %+v", m.Method, m.RoundRatios, m.Paired)
		}
		// The fake peer takes 1.5 s every round, so each paired ratio is
		// our time of that round over 1.5 s.
		for i, rr := range m.RoundRatios {
			if !(rr >= m.Ours.Min/1.5 && rr <= m.Ours.Max/1.5) {
				t.Errorf("%s: round %d ratio %v outside [%v, %v]", m.Method, i, rr, m.Ours.Min/1.5, m.Ours.Max/1.5)
			}
		}
		if m.Paired.Median != m.Ours.Median/1.5 {
			t.Errorf("%s: paired median %v, want %v", m.Method, m.Paired.Median, m.Ours.Median/1.5)
		}
		if !(m.RelDiff > 0) { // the fake's hypergradient is not ours
			t.Errorf("%s: relative difference %v", m.Method, m.RelDiff)
		}
	}
	if rep.GemvSeconds["X@v"] != 0.001 || !(rep.OracleGBps["inner_grad"] > 0) || !(rep.OracleGBps["x_matvec"] > 0) {
		t.Errorf("gemv %v, oracles %v", rep.GemvSeconds, rep.OracleGBps)
	}
	var sb strings.Builder
	writePeers(&sb, rep)
	if !strings.Contains(sb.String(), "Our X·v (MulVec") || !strings.Contains(sb.String(), "(its CPU BLAS)") {
		t.Errorf("report lacks the X·v yardstick or names the wrong BLAS:\n%s", sb.String())
	}
	if b.Allocated() != allocated {
		t.Errorf("RunPeers left %d bytes allocated on the backend (had %d)", b.Allocated(), allocated)
	}
	// The peer runs on our backend's device unless told otherwise.
	if rep.PeerDevice != "fake-cpu" || rep.OursDevice != b.Device() {
		t.Errorf("devices: peer %q, ours %q", rep.PeerDevice, rep.OursDevice)
	}
	o.Repeats, o.Device = 1, "cuda"
	if rep, err = r.RunPeers(context.Background(), o); err != nil || rep.PeerDevice != "fake-cuda" {
		t.Errorf("Device cuda: peer device %q, %v", rep.PeerDevice, err)
	}
	o.Device = "tpu"
	if _, err := r.RunPeers(context.Background(), o); err == nil || !strings.Contains(err.Error(), "tpu") {
		t.Errorf("Device tpu: %v", err)
	}
	o.Repeats, o.Device = 0, ""
	if _, err := r.RunPeers(context.Background(), o); err == nil {
		t.Error("0 rounds: no error")
	}
}

// TestPeerDevice: the peer follows our backend unless a device is named.
func TestPeerDevice(t *testing.T) {
	for _, c := range []struct{ dev, backend, want string }{
		{"", "cpu", "cpu"}, {"", "cuda", "cuda"}, {"cpu", "cuda", "cpu"}, {"cuda", "cpu", "cuda"},
	} {
		if got, err := peerDevice(c.dev, c.backend); err != nil || got != c.want {
			t.Errorf("peerDevice(%q, %q) = %q, %v; want %q", c.dev, c.backend, got, err, c.want)
		}
	}
	if _, err := peerDevice("gpu", "cpu"); err == nil {
		t.Error("gpu: no error")
	}
}

// TestRunTimeToAccuracy: with the fake peer, the comparison sets λ so that
// κ = L/μ is the one asked for, finds (t, k) that meet the target for every
// configuration, times the peer once, and reports the peer's error honestly
// (the fake's hypergradient of ones is far from the true one).
func TestRunTimeToAccuracy(t *testing.T) {
	dir := t.TempDir()
	python := filepath.Join(dir, "python3")
	if err := os.WriteFile(python, []byte(fakePython), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_PEER_COUNT", filepath.Join(dir, "count"))
	b := cpu.New(cpu.Options{})
	defer b.Close()
	r := &Runner{Suite: Quick(), Backend: b}
	o := DefaultTTAOptions()
	o.Python, o.Source, o.Kappa, o.Repeats = python, "synth:n=300,d=10,kappa=100,seed=2", 100, 1
	rep, err := r.RunTimeToAccuracy(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(rep.Kappa/100-1) > 1e-12 {
		t.Errorf("κ = %v, want 100", rep.Kappa)
	}
	if len(rep.Ours) != len(o.Configs) || !rep.Same.Met {
		t.Fatalf("%d configurations, same algorithm met %v", len(rep.Ours), rep.Same.Met)
	}
	for _, e := range rep.Ours {
		if !e.Met || e.RelErr > o.Target {
			t.Errorf("%s: error %.3g at t = %d, k = %d", e.Config, e.RelErr, e.T, e.K)
		}
	}
	if rep.Peer.Met || rep.Peer.Seconds.Median != 1.5 || rep.Ratio != rep.Ours[rep.Best].Seconds.Median/1.5 {
		t.Errorf("peer %+v, ratio %v", rep.Peer, rep.Ratio)
	}
}

// TestRunPeersMultilogreg: the comparison runs on CSR multinomial data
// (written with the CSR arrays for the peer) and reports the bytes our
// problem holds, the stored values of its data and each method's peak.
func TestRunPeersMultilogreg(t *testing.T) {
	dir := t.TempDir()
	python := filepath.Join(dir, "python3")
	if err := os.WriteFile(python, []byte(fakePython), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_PEER_COUNT", filepath.Join(dir, "count"))
	b := cpu.New(cpu.Options{})
	defer b.Close()
	r := &Runner{Suite: Quick(), Backend: b}
	o := PeerOptions{Python: python, Problem: "multilogreg", Source: "synth:n=300,m=100,d=10,c=3,density=0.3,seed=2", T: 4, K: 4, Repeats: 1,
		Methods: []string{"itd", "aid-cg"}}
	rep, err := r.RunPeers(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.DataNNZ <= 0 || rep.DataNNZ >= 400*10 || rep.ProblemBytes <= 0 {
		t.Errorf("data nnz %d (dense would be %d), problem bytes %d", rep.DataNNZ, 400*10, rep.ProblemBytes)
	}
	for _, m := range rep.Methods {
		if m.PeakBytes < rep.ProblemBytes {
			t.Errorf("%s: peak %d below the problem's %d bytes", m.Method, m.PeakBytes, rep.ProblemBytes)
		}
	}
	if _, err := r.RunPeers(context.Background(), PeerOptions{Python: python, Problem: "krr", Source: "synth:n=20", T: 1, K: 1, Repeats: 1, Methods: []string{"itd"}}); err == nil || !strings.Contains(err.Error(), "no PyTorch peer") {
		t.Errorf("krr peer: %v", err)
	}
}
