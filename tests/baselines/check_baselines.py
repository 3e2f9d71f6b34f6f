"""Every baseline metric of baselines_probe against an independent numpy / scipy /
scikit-learn implementation of its published formula, on random data of
several shapes (d > n, rank-deficient features, a class with one sample), plus
hand-checkable cases. Usage: check_baselines.py PATH/TO/baselines_probe"""
import json
import subprocess
import sys
import tempfile

import numpy as np
import ot
import scipy.optimize
import scipy.special
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

PROBE = sys.argv[1]
CLOSED_FORM_TOL = 1e-6
ITERATIVE_TOL = {"pactran": 1e-5, "nleep": 1e-5, "logme": 1e-6}


def onehot(y, k):
    out = np.zeros((len(y), k))
    out[np.arange(len(y)), y] = 1
    return out


def ref_logme(f, y, k):
    n, d = f.shape
    s, v = np.linalg.eigh(f.T @ f)
    s = np.clip(s, 0, None)
    total = 0.0
    for c in range(k):
        t = (y == c).astype(float)
        proj = v.T @ (f.T @ t)
        alpha, beta, lam = 1.0, 1.0, 1.0
        for _ in range(11):
            gamma = np.sum(s / (s + lam))
            m = v @ (proj * beta / (alpha + beta * s))
            a_de = m @ m
            alpha = gamma / (a_de + 1e-5)
            b_de = np.sum((t - f @ m) ** 2)
            beta = (n - gamma) / (b_de + 1e-5)
            new = alpha / beta
            if abs(new - lam) / lam < 0.01:
                break
            lam = new
        ev = (d / 2 * np.log(alpha) + n / 2 * np.log(beta) - 0.5 * np.sum(np.log(alpha + beta * s))
              - beta / 2 * b_de - alpha / 2 * a_de - n / 2 * np.log(2 * np.pi))
        total += ev / n
    return total / k


def ref_leep(p, y, k):
    joint = onehot(y, k).T @ p / len(y)
    cond = joint / joint.sum(axis=0, keepdims=True)
    return np.mean(np.log(np.sum(cond[y] * p, axis=1)))


def ref_nce(p, y, k):
    z = np.argmax(p, axis=1)
    joint = np.zeros((k, p.shape[1]))
    np.add.at(joint, (y, z), 1.0 / len(y))
    pz = joint.sum(axis=0)
    nz = joint > 0
    return np.sum(joint[nz] * np.log((joint / pz)[nz]))


def class_mean_rows(f, y, k):
    means = np.stack([f[y == c].mean(axis=0) for c in range(k)])
    return means[y]


def ref_hscore(f, y, k):
    f = f - f.mean(axis=0)
    g = class_mean_rows(f, y, k)
    cf = np.cov(f, rowvar=False, bias=True)
    cg = np.cov(g, rowvar=False, bias=True)
    return np.trace(np.linalg.pinv(cf, rcond=1e-10, hermitian=True) @ cg)


def ref_shrinkage_hscore(f, y, k):
    f = f - f.mean(axis=0)
    lw = LedoitWolf(assume_centered=False).fit(f)
    g = class_mean_rows(f, y, k)
    cg = np.cov(g, rowvar=False, bias=True)
    return np.trace(np.linalg.pinv(lw.covariance_, rcond=1e-10, hermitian=True) @ ((1 - lw.shrinkage_) * cg))


def coding_rate(z, eps):
    n, d = z.shape
    return 0.5 * np.linalg.slogdet(np.eye(d) + z.T @ z / (n * eps))[1]


def ref_transrate(f, y, k, eps=1e-4):
    z = f - f.mean(axis=0)
    return coding_rate(z, eps) - sum(coding_rate(z[y == c], eps) for c in range(k)) / k


def ref_gbc(f, y, k):
    d = f.shape[1]
    mu = [f[y == c].mean(axis=0) for c in range(k)]
    var = np.array([f[y == c].var(axis=0).mean() for c in range(k)])
    var = np.maximum(var, 1e-12 * var.max() if var.max() > 0 else 1e-12)
    total = 0.0
    for i in range(k):
        for j in range(k):
            if i != j:
                s = (var[i] + var[j]) / 2
                # Bhattacharyya distance of N(mu_i, var_i I) and N(mu_j, var_j I) in d dimensions.
                db = np.sum((mu[i] - mu[j]) ** 2) / (8 * s) + 0.5 * d * np.log(s / np.sqrt(var[i] * var[j]))
                total += np.exp(-db)
    return -total


def within_scatter(x, y, k):
    priors = np.bincount(y, minlength=k) / len(y)
    out = np.zeros((x.shape[1], x.shape[1]))
    for c in range(k):
        dev = x[y == c] - x[y == c].mean(axis=0)
        out += priors[c] * dev.T @ dev / len(dev)
    return out


def shrunk_lda_proba(x, y, k, lam):
    means = np.stack([x[y == c].mean(axis=0) for c in range(k)])
    priors = np.bincount(y, minlength=k) / len(y)
    sw = within_scatter(x, y, k)
    sws = (1 - lam) * sw + lam * np.eye(x.shape[1])
    coef = np.linalg.solve(sws, means.T).T
    intercept = -0.5 * np.sum(means * coef, axis=1) + np.log(priors)
    return scipy.special.softmax(x @ coef.T + intercept, axis=1), sw


def ref_sfda(f, y, k):
    lam = np.exp(-1.0 * np.linalg.eigvalsh(within_scatter(f, y, k)).max())
    p, _ = shrunk_lda_proba(f, y, k, lam)
    p = scipy.special.softmax(p, axis=1)
    x = f.copy()
    for c in range(k):
        idx = y == c
        outside = f[~idx].mean(axis=0)
        conf = p[idx, c][:, None]
        x[idx] = conf * f[idx] + (1 - conf) * outside
    p2, _ = shrunk_lda_proba(x, y, k, lam)
    return np.mean(p2[np.arange(len(y)), y])


def ref_pactran(f, y, k, lda=1.0, s2_factor=100.0):
    x = f - f.mean(axis=0)
    n, d = x.shape
    yb = onehot(y, k)
    ldas2 = lda * n

    def unpack(t):
        t = t.reshape(d + 1, k)
        return t[:d], t[d:]

    def loss(t):
        w, b = unpack(t)
        logq = scipy.special.log_softmax(x @ w + b, axis=1)
        return np.sum(yb * (np.log(yb + 1e-10) - logq)) / n + 0.5 * np.sum(w ** 2) / ldas2

    def grad(t):
        w, b = unpack(t)
        g = (scipy.special.softmax(x @ w + b, axis=1) - yb) / n
        return np.concatenate([x.T @ g + w / ldas2, g.sum(axis=0, keepdims=True)]).ravel()

    t = scipy.optimize.minimize(loss, np.zeros((d + 1) * k), jac=grad, method="L-BFGS-B",
                                options=dict(maxiter=20000, gtol=1e-12, ftol=1e-15)).x
    w, b = unpack(t)
    p = scipy.special.softmax(x @ w + b, axis=1)
    h2 = p - p ** 2
    h = np.sum((x ** 2).T @ h2 + 1 / ldas2) + np.sum(h2)
    kd = d * k
    sigma2_inv = h * ldas2 / kd + 1e-10
    return -(loss(t) + 0.5 * kd / ldas2 * (s2_factor / d) * np.log(sigma2_inv))


def ref_nleep(f, y, k, centres):
    xp = PCA(n_components=0.8, svd_solver="full").fit_transform(f)
    c = xp[centres]
    assign = np.argmin(((xp[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
    resp = onehot(assign, k)
    nk = resp.sum(0) + 10 * np.finfo(float).eps
    means = resp.T @ xp / nk[:, None]
    covs = np.stack([((xp - means[j]).T * resp[:, j]) @ (xp - means[j]) / nk[j] + 1e-6 * np.eye(xp.shape[1])
                     for j in range(k)])
    gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-6, tol=1e-3, max_iter=100,
                          weights_init=nk / nk.sum(), means_init=means, precisions_init=np.linalg.inv(covs),
                          init_params="random", random_state=0).fit(xp)
    return ref_leep(gmm.predict_proba(xp), y, k)


def ref_ot_nce(zr, yr, kr, zt, yt, kt):
    zr = zr.astype(np.float32).astype(np.float64)
    zt = zt.astype(np.float32).astype(np.float64)
    cost = ot.dist(zr, zt, metric="sqeuclidean")
    plan = ot.emd(np.full(len(zr), 1 / len(zr)), np.full(len(zt), 1 / len(zt)), cost, numItermax=10 ** 7)
    joint = onehot(yr, kr).T @ plan @ onehot(yt, kt)
    joint /= joint.sum()
    pr = joint.sum(axis=1, keepdims=True)
    nz = joint > 0
    return np.sum(joint[nz] * np.log((joint / pr)[nz])), np.sum(plan * cost)


def run_probe(zt, yt, probs, zr, yr, kt, kr, seed=3, cap=100000):
    with tempfile.TemporaryDirectory() as d:
        np.save(f"{d}/z_t.npy", zt.astype(np.float32))
        np.save(f"{d}/y_t.npy", yt.astype(np.int64))
        np.save(f"{d}/probs.npy", probs.astype(np.float64))
        np.save(f"{d}/z_r.npy", zr.astype(np.float32))
        np.save(f"{d}/y_r.npy", yr.astype(np.int64))
        np.save(f"{d}/meta.npy", np.array([kt, kr, seed, cap], dtype=np.float64))
        out = subprocess.run([PROBE, d], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])  # warnings may precede it


failures = []


def check(case, name, got, want, tol):
    ok = np.isfinite(got) and abs(got - want) <= tol * max(1.0, abs(want))
    print(f"{'ok  ' if ok else 'FAIL'} {case:28s} {name:17s} got {got:.10g} want {want:.10g}")
    if not ok:
        failures.append((case, name))


def make_case(rng, n, d, kt, kr, rank=None, singleton=False):
    centres = rng.normal(size=(kt, d)) * 1.5
    yt = np.arange(n) % kt
    if singleton:  # the last class keeps one row
        yt[yt == kt - 1] = 0
        yt[n // 2] = kt - 1
    zt = centres[yt] + rng.normal(size=(n, d))
    if rank is not None:
        zt = zt[:, :rank] @ rng.normal(size=(rank, d))
    zt = (zt - zt.mean(0)) / np.where(zt.std(0) > 0, zt.std(0), 1)
    zt = zt.astype(np.float32).astype(np.float64)
    logits = rng.normal(size=(n, kr)) * 2 + onehot(yt % kr, kr) * 2
    probs = scipy.special.softmax(logits, axis=1)
    nr = n + 7
    yr = np.arange(nr) % kr
    zr = (rng.normal(size=(kr, d)) * 1.5)[yr] + rng.normal(size=(nr, d))
    zr = zr.astype(np.float32).astype(np.float64)
    return zt, yt, probs, zr, yr


rng = np.random.default_rng(7)
cases = [("n=60 d=5 K=3", 60, 5, 3, 4, {}), ("n=120 d=16 K=5", 120, 16, 5, 3, {}),
         ("d>n n=30 d=50 K=3", 30, 50, 3, 3, {}), ("rank-deficient d=12 r=4", 80, 12, 4, 4, {"rank": 4}),
         ("one-sample class", 50, 6, 3, 2, {"singleton": True})]
for case, n, d, kt, kr, extra in cases:
    zt, yt, probs, zr, yr = make_case(rng, n, d, kt, kr, **extra)
    out = run_probe(zt, yt, probs, zr, yr, kt, kr)
    m = out["metrics"]
    ot_nce, w = ref_ot_nce(zr, yr, kr, zt, yt, kt)
    refs = {"logme": ref_logme(zt, yt, kt), "leep": ref_leep(probs, yt, kt), "nce": ref_nce(probs, yt, kt),
            "hscore": ref_hscore(zt, yt, kt), "shrinkage_hscore": ref_shrinkage_hscore(zt, yt, kt),
            "transrate": ref_transrate(zt, yt, kt), "gbc": ref_gbc(zt, yt, kt), "sfda": ref_sfda(zt, yt, kt),
            "pactran": ref_pactran(zt, yt, kt), "nleep": ref_nleep(zt, yt, kt, out["nleep_centres"]),
            "otce": ot_nce, "ot_nce": ot_nce}
    for name, want in refs.items():
        check(case, name, m[name], want, ITERATIVE_TOL.get(name, CLOSED_FORM_TOL))
    check(case, "ot wasserstein", out["ot"]["wasserstein"], w, 1e-6)

# Hand-checkable: a source model that predicts a relabelling of the target
# labels perfectly has LEEP = NCE = 0; a uniform one has LEEP = -H(Y) and NCE = -H(Y).
zt, yt, probs, zr, yr = make_case(rng, 40, 4, 4, 4)
perfect = onehot((yt + 1) % 4, 4)
m = run_probe(zt, yt, perfect, zr, yr, 4, 4)["metrics"]
check("perfect source model", "leep", m["leep"], 0.0, 1e-12)
check("perfect source model", "nce", m["nce"], 0.0, 1e-12)
m = run_probe(zt, yt, np.full((40, 4), 0.25), zr, yr, 4, 4)["metrics"]
check("uniform source model", "leep", m["leep"], -np.log(4), 1e-12)
check("uniform source model", "nce", m["nce"], -np.log(4), 1e-12)
# Identical reference and target tasks: the coupling is the identity, H(Y_T|Y_R) = 0.
m = run_probe(zt, yt, probs, zt, yt, 4, 4)["metrics"]
check("identical tasks", "ot_nce", m["ot_nce"], 0.0, 1e-12)

if failures:
    print(f"{len(failures)} failure(s): {failures}")
    sys.exit(1)
print("all metrics agree with their references")
