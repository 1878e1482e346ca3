#!/usr/bin/env python3
"""PyTorch peer of the hypergrad bench suite.

Computes the same hypergradients as hypergrad from the same .npz data, the way
PyTorch hypergradient libraries (hypertorch, Grazzi et al. 2020) do:

  itd     reverse-mode autograd unrolled through t gradient-descent steps
          (create_graph=True), then E(w_t).backward();
  aid-fp  t detached gradient-descent steps to w_t, then k fixed-point
          iterations v <- J^T v + grad_w E with autograd vector-Jacobian
          products of the step map Phi(w, lam) = w - alpha * grad_w g(w, lam);
  aid-cg  the same w_t, then k conjugate-gradient iterations on
          (I - J^T) v = grad_w E (hypertorch's CG, standard Hestenes-Stiefel).

The hypergradient is grad_lam E + (d Phi / d lam)^T v. float64 throughout, the
step alpha given by the caller (hypergrad's 2/(L+mu)), w_0 = 0, v_0 = 0.
With --device cuda everything runs on the GPU, and each timing starts and
ends with torch.cuda.synchronize(); each method runs once untimed first
(CUDA context, cuBLAS handles, kernel loading).
Prints one JSON object on stdout.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch


def load(path, problem, device):
    z = np.load(path)
    t = lambda name: torch.from_numpy(np.ascontiguousarray(z[name], dtype=np.float64)).to(device)
    if problem == "quadratic":
        return {k: t(k) for k in ("A", "b", "C", "D", "e", "theta")}
    if problem == "multilogreg":
        return load_multiclass(z, device)
    d = {k: t(k) for k in ("X_train", "y_train", "X_val", "y_val", "lambda")}
    return d


def matrix(z, name, device):
    """A dense matrix, or a CSR one (scipy's four arrays) as a sparse COO tensor."""
    if name in z.files:
        return torch.from_numpy(np.ascontiguousarray(z[name], dtype=np.float64)).to(device)
    indptr = np.asarray(z[name + "_indptr"], dtype=np.int64)
    rows, cols = (int(v) for v in z[name + "_shape"])
    row = np.repeat(np.arange(rows, dtype=np.int64), np.diff(indptr))
    idx = torch.from_numpy(np.stack([row, np.asarray(z[name + "_indices"], dtype=np.int64)]))
    val = torch.from_numpy(np.asarray(z[name + "_data"], dtype=np.float64))
    return torch.sparse_coo_tensor(idx, val, (rows, cols)).coalesce().to(device)


def load_multiclass(z, device):
    """multilogreg: X (dense or CSR), integer labels, lambda (d or 1) or lambda_class (c)."""
    d = {"X_train": matrix(z, "X_train", device), "X_val": matrix(z, "X_val", device)}
    for k in ("y_train", "y_val"):
        d[k] = torch.from_numpy(np.asarray(z[k]).astype(np.int64)).to(device)
    per_class = "lambda_class" in z.files
    lam = z["lambda_class"] if per_class else z["lambda"]
    d["lambda"] = torch.from_numpy(np.atleast_1d(np.asarray(lam, dtype=np.float64))).to(device)
    d["per_class"] = per_class
    if "classes" in z.files:
        d["classes"] = int(z["classes"])
    else:
        d["classes"] = int(max(d["y_train"].max().item(), d["y_val"].max().item())) + 1
    return d


def make_problem(problem, d):
    """Returns (lam0, dim_w, g(w, lam), E(w, lam))."""
    if problem == "quadratic":
        A, b, C, D, e = d["A"], d["b"], d["C"], d["D"], d["e"]
        g = lambda w, th: ((C @ th + D @ w - e) ** 2).sum()
        E = lambda w, th: ((A @ w - b) ** 2).sum()
        return d["theta"], D.shape[1], g, E
    if problem == "multilogreg":
        return make_multilogreg(d)
    X, y, Xv, yv, lam = d["X_train"], d["y_train"], d["X_val"], d["y_val"], d["lambda"]
    dim = X.shape[1]

    def reg(w, l):
        el = torch.exp(l)
        if el.numel() == 1:
            el = el.expand(dim)
        return 0.5 * (el * w * w).sum()

    if problem == "ridge":
        g = lambda w, l: 0.5 * ((X @ w - y) ** 2).mean() + reg(w, l)
        E = lambda w, l: 0.5 * ((Xv @ w - yv) ** 2).mean()
    else:
        sp = torch.nn.functional.softplus
        g = lambda w, l: sp(-y * (X @ w)).mean() + reg(w, l)
        E = lambda w, l: sp(-yv * (Xv @ w)).mean()
    return lam, dim, g, E


def make_multilogreg(d):
    """g(W, lam) = mean CE(X W, y) + 1/(2 d c) sum_jk e^{lam_j} W_jk^2 (per class:
    e^{lam_k}); E(W) = mean CE(X_val W, y_val); w is W (d x c) row-major."""
    X, y, Xv, yv, lam, c = d["X_train"], d["y_train"], d["X_val"], d["y_val"], d["lambda"], d["classes"]
    p = X.shape[1]
    ce = torch.nn.functional.cross_entropy
    mm = lambda A, W: torch.sparse.mm(A, W) if A.is_sparse else A @ W

    def reg(w, l):
        W = w.view(p, c)
        el = torch.exp(l)
        if el.numel() == 1:
            s = el[0] * (W * W).sum()
        elif d["per_class"]:
            s = (el.view(1, c) * W * W).sum()
        else:
            s = (el.view(p, 1) * W * W).sum()
        return s / (2 * p * c)

    g = lambda w, l: ce(mm(X, w.view(p, c)), y) + reg(w, l)
    E = lambda w, l: ce(mm(Xv, w.view(p, c)), yv)
    return lam, p * c, g, E


def inner(g, lam, dim, t, alpha):
    w = torch.zeros(dim, dtype=torch.float64, device=lam.device)
    lam_d = lam.detach()
    for _ in range(t):
        w.requires_grad_(True)
        (gw,) = torch.autograd.grad(g(w, lam_d), w)
        w = (w - alpha * gw).detach()
    return w


def itd(g, E, lam0, dim, t, k, alpha):
    lam = lam0.clone().requires_grad_(True)
    w = torch.zeros(dim, dtype=torch.float64, device=lam.device, requires_grad=True)
    for _ in range(t):
        (gw,) = torch.autograd.grad(g(w, lam), w, create_graph=True)
        w = w - alpha * gw
    (h,) = torch.autograd.grad(E(w, lam), lam, allow_unused=True)
    return h if h is not None else torch.zeros_like(lam)


def aid(g, E, lam0, dim, t, k, alpha, solver):
    w = inner(g, lam0, dim, t, alpha).requires_grad_(True)
    lam = lam0.clone().requires_grad_(True)
    (gw,) = torch.autograd.grad(g(w, lam), w, create_graph=True)
    phi = w - alpha * gw
    e = E(w, lam)
    dEw, dEl = torch.autograd.grad(e, (w, lam), allow_unused=True)
    jt = lambda v: torch.autograd.grad(phi, w, v, retain_graph=True)[0]  # J^T v
    v = torch.zeros_like(w)
    if solver == "fp":
        for _ in range(k):
            v = jt(v) + dEw
    else:  # CG on (I - J^T) v = dEw from v = 0
        r = dEw.clone()
        p = r.clone()
        rr = r @ r
        for _ in range(k):
            if rr == 0:
                break
            ap = p - jt(p)
            a = rr / (p @ ap)
            v = v + a * p
            r = r - a * ap
            rr_new = r @ r
            p = r + (rr_new / rr) * p
            rr = rr_new
    (cross,) = torch.autograd.grad(phi, lam, v)
    return cross if dEl is None else dEl + cross


def sync(device):
    """Waits for the device's queued work (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemv_seconds(d, repeats, device):
    """Time of X @ v and X^T @ r, the BLAS dgemv passes a PyTorch oracle makes
    (OpenBLAS/MKL on the CPU, cuBLAS on a GPU)."""
    if "X_train" not in d or d["X_train"].is_sparse or d["X_train"].dim() != 2 or "classes" in d:
        return None
    X = d["X_train"]
    v = torch.ones(X.shape[1], dtype=torch.float64, device=device)
    r = torch.ones(X.shape[0], dtype=torch.float64, device=device)
    out = {}
    reps = 5 if device.type == "cpu" else 50
    for name, f in (("X@v", lambda: X @ v), ("X.T@r", lambda: X.T @ r)):
        f()
        sync(device)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(reps):
                f()
            sync(device)
            ts.append((time.perf_counter() - t0) / reps)
        out[name] = ts
    return out


def blas_library():
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "blas" in line.lower() and ".so" in line})
        return [os.path.realpath(l) for l in libs]
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--problem", required=True, choices=["ridge", "logreg", "quadratic", "multilogreg"])
    ap.add_argument("--methods", default="itd,aid-fp,aid-cg")
    ap.add_argument("--t", type=int, required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--alpha", type=float, required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    d = load(a.data, a.problem, device)
    lam0, dim, g, E = make_problem(a.problem, d)
    methods = {
        "itd": lambda: itd(g, E, lam0, dim, a.t, a.k, a.alpha),
        "aid-fp": lambda: aid(g, E, lam0, dim, a.t, a.k, a.alpha, "fp"),
        "aid-cg": lambda: aid(g, E, lam0, dim, a.t, a.k, a.alpha, "cg"),
    }
    out = {"torch": torch.__version__, "numpy": np.__version__, "python": sys.version.split()[0],
           "threads": torch.get_num_threads(), "config": torch.__config__.show(), "methods": {},
           "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    for name in a.methods.split(","):
        ts, h = [], None
        if device.type == "cuda":
            methods[name]()  # untimed: CUDA context, cuBLAS handles and kernel loading
        for _ in range(a.repeats):
            sync(device)
            t0 = time.perf_counter()
            h = methods[name]()
            sync(device)
            ts.append(time.perf_counter() - t0)
        out["methods"][name] = {"seconds": ts, "hypergradient": h.detach().reshape(-1).tolist()}
    out["gemv_seconds"] = gemv_seconds(d, a.repeats, device)
    out["blas_libraries"] = blas_library()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
