# Generator of dakl-sklearn.json, the reference fixture of DaklReferenceTests (run once by hand; not part of the product):
#   /usr/bin/python3 make_dakl_fixture.py   (Debian python3-numpy 1.24, python3-sklearn 1.2)
#   > dakl-sklearn.json
# It computes DAKL (paper Eq. 5-7) independently of the C# code with NumPy and scikit-learn's KernelRidge (linear kernel on
# the rows of K_DA, dual ridge fitted on the centroid rows), in float64.
import json
import numpy as np
from sklearn.kernel_ridge import KernelRidge

rng = np.random.default_rng(20240611)
r, p, q, d, t = 50, 40, 5, 16, 12


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


centroids = rng.normal(size=(r, d))
targets = unit(rng.normal(size=(r, t)))
target_domain = rng.normal(size=(p, d)) + 0.3          # a shifted domain
queries = rng.normal(size=(q, d))

cases = []
for gamma, alpha in [(0.001, 10.0), (0.5, 1.0)]:
    z = np.vstack([centroids, target_domain])
    k = z @ z.T                                          # Eq. 5, linear kernel
    diag = np.sqrt(np.diag(k))
    k_hat = k / np.outer(diag, diag)                     # Eq. 6
    k_da = np.exp(-gamma * (1.0 - k_hat))                # Eq. 7
    model = KernelRidge(alpha=alpha, kernel="linear").fit(k_da[:r], targets)
    zn = unit(z)
    query_features = np.exp(-gamma * (1.0 - unit(queries) @ zn.T))
    cases.append({
        "gamma": gamma,
        "alpha": alpha,
        "targetDomainPredictions": unit(model.predict(k_da[r:])).tolist(),
        "queryPredictions": unit(model.predict(query_features)).tolist(),
    })

json.dump({
    "generator": "make_dakl_fixture.py (numpy %s, scikit-learn %s)" % (np.__version__, __import__("sklearn").__version__),
    "centroids": centroids.tolist(),
    "centroidTargets": targets.tolist(),
    "targetDomain": target_domain.tolist(),
    "queries": queries.tolist(),
    "cases": cases,
}, __import__("sys").stdout, indent=1)
