#!/usr/bin/env bash
# The GPU part of issues 3 and 6 in one command, for a GPU machine without Go.
#
# Here (no GPU needed), from the repository root:
#   bash backend/cuda/gpu-pack.sh
#       (builds .gpubin with ../shared/cuda/build-gpubin.sh, leaves out the test binaries that
#       run no CUDA code, gzips the rest and checks that the tree and .gpubin fit the device
#       tool's 64 MiB; problems, hypergrad and krylov stay: the equilibrium model, the
#       fixed-point estimators and the device-resident CG run there)
#   Optionally, variants of backend/cuda's test binary as .gpubin/alt-NAME/alt.test
#   (built from other kernels, say): their benchmarks run too, into bench-alt-NAME.txt,
#   interleaved with the main binary's, for a before/after on the same machine; and an
#   older CLI as .gpubin/alt-NAME/hypergrad: the CLI A/B and quick suites below.
#   Files may be gzipped (NAME.gz) to fit the 64 MiB: they are unpacked there first.
# There, from the repository root, with .gpubin carried:
#   bash backend/cuda/gpu-session.sh "$OUT"
#
# It writes into the folder given (default gpu-out): device.txt; tests.log (every
# test binary of .gpubin through gpu-test.sh, -test.v); cli-{cpu,cuda}.json and
# .err (hypergrad grad, logreg, AID-CG, t = k = 50, synth:n=100000,d=1000,
# kappa=1e3,seed=0; also cuda-f32, dense X in float32); cli-newton-{cpu,cuda,cuda-f32}.json (the same data, Newton inner
# steps and Jacobi CG to tolerances 1e-12); cli-eq-{aid-gmres,itd}-{cuda,cpu}.json (the
# equilibrium model, HG_GPU_EQ_DATA); peers/ and peers.log (hypergrad
# bench -backend cuda -suite none -peers on the same data: side by side with
# PyTorch on the GPU, and the time to accuracy); bench.txt (backend/cuda's
# benchmarks: MulVec, MulVecTrans, GramVec, GramDiag, GLMGrad, Dot, Axpy, and
# the 1 GiB device-to-device copies, and BlockProducts); cublas-gemm.txt
# (PyTorch's X @ W on the same shapes); ab-NAME/ when .gpubin/alt-NAME/hypergrad
# exists (below); and summary.md, a draft of
# results/gpu-<date>.md. Each part has a time limit (tests 240 s, each
# CLI run 60 s, the peers 300 s, each benchmark run 60 s); HG_GPU_DATA
# overrides the data. HG_GPU_PARTS names the parts to run (default all: "tests
# cli eq zoo peers bench gemm ab"), so that a short device budget can take
# them over several calls into one folder, and HG_GPU_SKIP_TESTS=1 leaves out
# the tests; the summary is written from whatever the folder holds.
set -uo pipefail
out=${1:-gpu-out}
mkdir -p "$out"
root=$(pwd)
find .gpubin -name '*.gz' | while read -r z; do gunzip -f "$z" && chmod +x "${z%.gz}"; done

{
	nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.memory --format=csv
	nvidia-smi | head -12
} >"$out/device.txt" 2>&1

parts=" ${HG_GPU_PARTS:-tests cli eq zoo peers bench gemm ab} "
[ "${HG_GPU_SKIP_TESTS:-0}" = 1 ] && parts=${parts/ tests / }
want() { [[ $parts == *" $1 "* ]]; }

if want tests; then
	timeout 240 bash .gpubin/gpu-test.sh >"$out/tests.log" 2>&1
	echo "gpu-test.sh: exit status $?" >>"$out/tests.log"
elif [ ! -f "$out/tests.log" ]; then
	echo "skipped (HG_GPU_PARTS or HG_GPU_SKIP_TESTS=1)" >"$out/tests.log"
fi

data=${HG_GPU_DATA:-synth:n=100000,d=1000,kappa=1e3,seed=0}
want cli && for be in cuda cpu cuda-f32; do
	timeout 60 .gpubin/bin/hypergrad grad -problem logreg -data "$data" -method aid-cg -t 50 -k 50 \
		-backend "$be" -json >"$out/cli-$be.json" 2>"$out/cli-$be.err"
	echo "exit status $?" >>"$out/cli-$be.err"
	# Newton inner steps and Jacobi-preconditioned CG to tolerances (GramDiag on the device).
	timeout 60 .gpubin/bin/hypergrad grad -problem logreg -data "$data" -method aid-pcg -inner newton -t 30 -k 300 \
		-tol-inner 1e-12 -tol-linear 1e-12 -backend "$be" -json >"$out/cli-newton-$be.json" 2>"$out/cli-newton-$be.err"
	echo "exit status $?" >>"$out/cli-newton-$be.err"
done

# The equilibrium model (a fixed-point lower level), AID-GMRES and reverse-mode
# ITD, on the GPU and the CPU: the hypergradients must agree to 1e-12 normwise.
eqdata=${HG_GPU_EQ_DATA:-synth:n=20000,d=100,k=50,c=10,q=0.9,seed=0}
want eq && for be in cuda cpu; do
	for m in aid-gmres itd; do
		timeout 60 .gpubin/bin/hypergrad grad -problem equilibrium -data "$eqdata" -method "$m" -t 60 -k 40 \
			-backend "$be" -json >"$out/cli-eq-$m-$be.json" 2>"$out/cli-eq-$m-$be.err"
		echo "exit status $?" >>"$out/cli-eq-$m-$be.err"
	done
done

# Every family of the zoo at a GPU-sized instance, AID-CG on the GPU and the
# CPU (the hypergradients must agree to 1e-12 normwise), and the
# 20-newsgroups-shaped multilogreg (CSR) on both.
want zoo && for spec in "multilogreg synth:n=11314,m=7532,d=130107,c=20,density=0.001,seed=0" \
	"hypercleaning synth:n=20000,m=5000,d=100,c=10,seed=0" "krr synth:n=4000,m=1000,d=10,rho=1,seed=0" \
	"biasreg synth:tasks=200,n=100,m=50,d=50,seed=0" "tvdenoise synth:h=256,w=256,seed=0"; do
	set -- $spec
	for be in cuda cpu; do
		timeout 60 .gpubin/bin/hypergrad grad -problem "$1" -data "$2" -method aid-cg -t 50 -k 50 \
			-backend "$be" -json >"$out/cli-$1-$be.json" 2>"$out/cli-$1-$be.err"
		echo "exit status $?" >>"$out/cli-$1-$be.err"
	done
done

# Side by side with PyTorch on the GPU (the peer follows -backend), then the
# time to accuracy.
if want peers; then
	timeout 300 .gpubin/bin/hypergrad bench -v -backend cuda -suite none -peers -peer-data "$data" \
		-out "$out/peers" >"$out/peers.log" 2>&1
	echo "exit status $?" >>"$out/peers.log"
fi

# backend/cuda's benchmarks; with variants, three interleaved rounds each.
benchrun() { # benchrun BINARY OUTFILE
	(cd backend/cuda && timeout 60 "$1" -test.run '^$' -test.bench . -test.benchtime 50x) >>"$2" 2>&1
	echo "exit status $?" >>"$2"
}
alts=$(find .gpubin -path '.gpubin/alt-*/alt.test' | sort)
rounds=1
[ -n "$alts" ] && rounds=3
want bench && for r in $(seq "$rounds"); do
	benchrun "$root/.gpubin/backend/cuda/pkg.test" "$out/bench.txt"
	for a in $alts; do
		name=$(basename "$(dirname "$a")")
		benchrun "$root/$a" "$out/bench-$name.txt"
	done
done

# cuBLAS's dgemm (PyTorch, float64) on the shapes of BenchmarkBlockProducts:
# X·W and Xᵀ·G with X 100000×1000 and k = 10, and 1000×50 · 50×50; median of
# 50 timed calls after 5 untimed, synchronised.
if want gemm; then
timeout 120 python3 - >"$out/cublas-gemm.txt" 2>&1 <<'PY'
import statistics, time, torch
d = torch.device("cuda")
g = torch.Generator(device=d).manual_seed(0)
def t(f):
    for _ in range(5): f()
    torch.cuda.synchronize(); ts = []
    for _ in range(50):
        t0 = time.perf_counter(); f(); torch.cuda.synchronize(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)
X = torch.randn(100000, 1000, dtype=torch.float64, device=d, generator=g)
W = torch.randn(1000, 10, dtype=torch.float64, device=d, generator=g)
G = torch.randn(100000, 10, dtype=torch.float64, device=d, generator=g)
S = torch.randn(1000, 50, dtype=torch.float64, device=d, generator=g)
A = torch.randn(50, 50, dtype=torch.float64, device=d, generator=g)
print(torch.__version__, torch.cuda.get_device_name())
for name, f in [("X@W", lambda: X @ W), ("X.T@G", lambda: X.T @ G), ("S@A", lambda: S @ A)]:
    print(f"{name} {t(f)*1e6:.1f} us")
PY
echo "exit status $?" >>"$out/cublas-gemm.txt"
fi

# With .gpubin/alt-NAME/hypergrad (or .gz, unpacked here): the CLI before
# (that binary) and after (bin/hypergrad), alternating in three rounds, on
# AID-CG and AID-FP, large ($data, t = k = 50) and small (logreg 1000×100,
# t = k = 100), into ab-NAME/cli-{new,old}-METHOD-SIZE-rROUND.json; then the
# quick bench suite with each binary (ab-NAME/quick-{new,old}).
small=synth:n=1000,d=100,kappa=1e3,seed=0
for old in .gpubin/alt-*/hypergrad; do
	want ab && [ -x "$old" ] || continue
	ab="$out/ab-$(basename "$(dirname "$old")")"
	mkdir -p "$ab"
	for r in 1 2 3; do
		for v in new old; do
			bin=.gpubin/bin/hypergrad
			[ $v = old ] && bin=$old
			for m in aid-cg aid-fp; do
				timeout 60 $bin grad -problem logreg -data "$data" -method $m -t 50 -k 50 -backend cuda -json \
					>"$ab/cli-$v-$m-large-r$r.json" 2>>"$ab/cli.err"
				timeout 60 $bin grad -problem logreg -data "$small" -method $m -t 100 -k 100 -backend cuda -json \
					>"$ab/cli-$v-$m-small-r$r.json" 2>>"$ab/cli.err"
			done
		done
	done
	for v in new old; do
		bin=.gpubin/bin/hypergrad
		[ $v = old ] && bin=$old
		timeout 120 $bin bench -backend cuda -suite quick -out "$ab/quick-$v" >"$ab/quick-$v.log" 2>&1
		echo "exit status $?" >>"$ab/quick-$v.log"
	done
done

# abtable DIR prints the CLI A/B of DIR: per method and size, the total and
# linear-phase seconds of each round, and whether the hypergradients agree.
abtable() {
	python3 - "$1" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
runs = {}
for f in sorted(glob.glob(f"{d}/cli-*.json")):
    v, m1, m2, size, rnd = os.path.basename(f)[4:-5].split("-")
    try:
        runs.setdefault((f"{m1}-{m2}", size), {}).setdefault(v, []).append(json.load(open(f)))
    except Exception as e:
        print(f"- {f}: {e}")
print("| method | size | old: total / linear ms per round | new: total / linear ms per round | hypergradients |")
print("|---|---|---|---|---|")
for (m, size), vs in sorted(runs.items()):
    cell = lambda rs: ", ".join(f"{r['seconds']['total']*1e3:.2f} / {r['seconds']['linear']*1e3:.2f}" for r in rs)
    same = all(r["hypergradient"] == vs["old"][0]["hypergradient"] for r in vs.get("new", []) + vs.get("old", []))
    print(f"| {m} | {size} | {cell(vs.get('old', []))} | {cell(vs.get('new', []))} | {'bit-identical' if same else 'differ'} |")
PY
}

# compare TAG NOTE [REF OTHER] prints the results of cli-TAG{REF,OTHER}.json
# (default cpu and cuda): time per hypergradient, status, counts, their
# agreement (NOTE says what to expect of it) and the speed-up of OTHER.
compare() {
	python3 - "$out" "$1" "$2" "${3:-cpu}" "${4:-cuda}" <<'PY'
import json, math, sys
out, tag, note, ref, other = sys.argv[1:6]
res = {}
for be in (ref, other):
    try:
        res[be] = json.load(open(f"{out}/cli-{tag}{be}.json"))
    except Exception as e:
        print(f"- {be}: no result ({e}); see cli-{tag}{be}.err")
for be, r in res.items():
    s = r["seconds"]
    print(f"- {be} ({r['device']}): {s['total']:.4g} s per hypergradient (inner {s['inner']:.4g} s, "
          f"linear {s['linear']:.4g} s; data {s['load']:.3g} s and setup {s['setup']:.3g} s not included), "
          f"status {r['status']}, iterations {r['iterations']}, counts {r['counts']}, ‖h‖ = {r['norm']:.6g}")
if len(res) == 2:
    a, b = res[ref]["hypergradient"], res[other]["hypergradient"]
    d = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    n = math.sqrt(sum(x * x for x in a))
    print(f"- ‖h_{other} − h_{ref}‖/‖h_{ref}‖ = {d / n:.3g} ({note})")
    print(f"- speed-up of {other} over {ref}: {res[ref]['seconds']['total'] / res[other]['seconds']['total']:.3g}×")
PY
}

{
	echo "# hypergrad on a GPU, $(date -u +%Y-%m-%d) (draft written by backend/cuda/gpu-session.sh)"
	echo
	echo "## Device"
	echo
	echo '```'
	cat "$out/device.txt"
	echo '```'
	echo
	echo "## Tests (.gpubin/gpu-test.sh: every cuda test binary)"
	echo
	echo '```'
	grep -E '^(=== [a-z.]|--- FAIL|    --- FAIL|FAIL|ok|PASS$|WARNING|gpu-test.sh|panic)' "$out/tests.log"
	echo '```'
	echo
	awk '/^=== [a-z.]/ { pkg = $2; order[++n] = pkg }
		/^--- PASS/ { p[pkg]++ } /^--- FAIL/ { f[pkg]++ } /^--- SKIP/ { s[pkg]++ }
		END { print "| package | tests passed | failed | skipped |"; print "|---|---|---|---|"
		      for (i = 1; i <= n; i++) { k = order[i]; printf "| %s | %d | %d | %d |\n", k, p[k], f[k], s[k] } }' "$out/tests.log"
	echo
	echo "## One hypergradient: logreg, AID-CG, t = k = 50, $data"
	echo
	compare "" "50 iterations of an ill-conditioned problem, not converged: rounding differences are amplified; the 1e-10 agreement is checked on converged problems by the hypergrad tests"
	echo
	echo "## One accurate hypergradient: logreg, AID-PCG with Newton inner steps, tolerances 1e-12, $data"
	echo
	compare "newton-" "converged to tolerances: expect ≤ 1e-10"
	echo
	echo "## Dense X in float32 on the GPU (-backend cuda-f32) against float64 (cuda), the same runs"
	echo
	compare "" "X rounded to float32 once: the hypergradient of slightly different data" cuda cuda-f32
	compare "newton-" "converged: the change that float32 storage of X makes to the hypergradient" cuda cuda-f32
	echo
	echo "## Side by side with PyTorch on the GPU, and time to accuracy ($data)"
	echo
	tail -n 8 "$out/peers.log"
	echo
	sed -n '/^## Side by side/,$p' "$out/peers/summary.md" 2>/dev/null
	echo
	for ab in "$out"/ab-*; do
		[ -d "$ab" ] || continue
		echo "## Before and after: $(basename "$ab") (old) against bin/hypergrad (new)"
		echo
		abtable "$ab"
		echo
		for v in old new; do
			echo "Quick suite, $v: time per hypergradient (t = k = 100)"
			echo
			grep -E '^(## [a-z]|\| (itd|aid)[^|]*\(gd\) \| [0-9.]+ (ms|µs|s) )' "$ab/quick-$v/summary.md" 2>/dev/null
			echo
		done
	done
	echo "## Bandwidth (backend/cuda benchmarks; MB/s = bytes of X read per op ÷ time; copies: bytes read + written)"
	for f in "$out"/bench*.txt; do
		echo
		echo "$(basename "$f"):"
		echo
		echo '```'
		grep -E '^(Benchmark|goos|cpu|exit)' "$f"
		echo '```'
	done
} >"$out/summary.md" 2>&1
cat "$out/summary.md"
