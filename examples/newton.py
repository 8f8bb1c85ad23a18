"""Newton's method on the Rosenbrock function, with its gradient and Hessian from microgradx.

Newton's method steps to the minimum of the quadratic that the gradient g and the matrix of
second derivatives H describe at the current point: x <- x - H^-1 g. Near the minimum it
converges quadratically (the number of correct digits doubles at each step), which first-order
methods cannot. Here g is ``microgradx.grad(f)`` and H is ``microgradx.hessian(f, x)``: the
engine differentiates its own derivative (``backward(create_graph=True)``), so nobody writes a
second derivative by hand.

The function is Rosenbrock's valley in n dimensions (2 by default; ``--dims``),

    f(x) = sum over i of 100 (x[i+1] - x[i]**2)**2 + (1 - x[i])**2,

whose minimum f = 0 lies at (1, ..., 1) at the end of a long curved valley, where plain gradient
descent crawls. The steps are damped, as practical Newton methods are: where H is not positive
definite a multiple of the identity is added to it (Levenberg), and a backtracking line search
halves the step until f falls enough (Armijo). The start is the classic (-1.2, 1, -1.2, 1, ...).

The result is checked against ``scipy.optimize.minimize`` (Newton-CG with SciPy's own
``rosen_der`` and ``rosen_hess``, written out by hand) where SciPy is installed, and the first
Hessian against ``rosen_hess`` at the start.

    python examples/newton.py               # 2 variables: 22 Newton steps to (1, 1)
    python examples/newton.py --dims 4      # 4 variables
"""

from __future__ import annotations

import argparse
import itertools
import time
from typing import Optional

import numpy as np

from microgradx import Value, grad, hessian


def rosenbrock(x: list) -> Value:
    """Rosenbrock's function of the Values ``x`` (at least two): SciPy's ``scipy.optimize.rosen``."""
    return sum((100 * (b - a ** 2) ** 2 + (1 - a) ** 2 for a, b in itertools.pairwise(x)), Value(0.0))


def value_at(x: np.ndarray) -> float:
    """f(x) for numbers."""
    return rosenbrock([Value(float(v)) for v in x]).data


def newton_direction(g: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, float]:
    """The step d solving (H + damping I) d = -g, with the least damping (0 if it can) that makes H + damping I
    positive definite (so d goes downhill); returns (d, damping)."""
    damping = 0.0
    scale = max(1e-8, float(np.abs(H).max()))
    while True:
        try:
            lower = np.linalg.cholesky(H + damping * np.eye(len(g)))
        except np.linalg.LinAlgError:
            damping = max(2 * damping, 1e-3 * scale)
            continue
        return -np.linalg.solve(lower.T, np.linalg.solve(lower, g)), damping


def minimize(x0: np.ndarray, tol: float = 1e-10, max_steps: int = 100, verbose: bool = True) -> dict:
    """Damped Newton from ``x0`` until the gradient's norm is below ``tol``.

    Returns ``x``, ``f``, ``steps``, ``gradient_norm`` and ``hessian0`` (the Hessian at ``x0``).
    """
    x = np.array(x0, dtype=np.float64)
    gradient = grad(rosenbrock)  # a list of n numbers in, the list of the n partial derivatives out
    hessian0 = None
    for k in range(max_steps + 1):
        g = np.array(gradient(x.tolist()))
        H = hessian(rosenbrock, x)  # one backward pass with create_graph=True, then one per row
        hessian0 = H if hessian0 is None else hessian0
        f = value_at(x)
        norm = float(np.linalg.norm(g))
        if norm < tol or k == max_steps:
            if verbose:
                print(f"step {k:3d}  f {f:.6e}  |grad| {norm:.3e}  done")
            break
        d, damping = newton_direction(g, H)
        t = 1.0  # backtracking: halve until f falls by at least 1e-4 of what the slope promises
        while value_at(x + t * d) > f + 1e-4 * t * float(g @ d) and t > 1e-10:
            t /= 2
        if verbose:
            print(f"step {k:3d}  f {f:.6e}  |grad| {norm:.3e}  step length {t:<9.4g} damping {damping:.3g}")
        x = x + t * d
    return {"x": x, "f": f, "steps": k, "gradient_norm": norm, "hessian0": hessian0}


def check_with_scipy(x0: np.ndarray, found: dict) -> Optional[dict]:
    """SciPy's Newton-CG from the same start, with SciPy's hand-written derivatives (None without SciPy)."""
    try:
        from scipy.optimize import minimize as scipy_minimize
        from scipy.optimize import rosen, rosen_der, rosen_hess
    except ImportError:
        print("SciPy is not installed: no comparison with scipy.optimize (pip install scipy)")
        return None
    ref = scipy_minimize(rosen, x0, method="Newton-CG", jac=rosen_der, hess=rosen_hess,
                         options={"xtol": 1e-12, "maxiter": 1000})
    hessian_error = float(np.abs(found["hessian0"] - rosen_hess(x0)).max())
    distance = float(np.abs(found["x"] - ref.x).max())
    print(f"scipy.optimize.minimize (Newton-CG, rosen_der, rosen_hess): x = {np.array2string(ref.x, precision=10)}  "
          f"f {ref.fun:.3e}  after {ref.nit} iterations")
    print(f"largest difference from SciPy's minimum: {distance:.1e}; "
          f"microgradx.hessian at the start against rosen_hess: {hessian_error:.1e}")
    return {"x": ref.x, "f": float(ref.fun), "distance": distance, "hessian_error": hessian_error}


def main(argv: Optional[list] = None) -> dict:
    """Minimise, print the steps, compare with SciPy; return what `minimize` found, ``seconds`` and ``scipy``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=2, help="number of variables, at least 2 (default: 2)")
    parser.add_argument("--tol", type=float, default=1e-10, help="stop when |grad| is below this (default: 1e-10)")
    args = parser.parse_args(argv)
    if args.dims < 2:
        parser.error(f"--dims must be at least 2 (Rosenbrock's function couples neighbours), got {args.dims}")
    if not args.tol > 0:
        parser.error(f"--tol must be positive, got {args.tol}")
    x0 = np.resize([-1.2, 1.0], args.dims)
    print(f"Rosenbrock's function of {args.dims} variables from {x0.tolist()}")
    started = time.perf_counter()
    found = minimize(x0, tol=args.tol)
    found["seconds"] = time.perf_counter() - started
    print(f"minimum at x = {np.array2string(found['x'], precision=10)}  f {found['f']:.3e}  after {found['steps']} "
          f"Newton steps in {found['seconds']:.2f} s")
    found["scipy"] = check_with_scipy(x0, found)
    return found


if __name__ == "__main__":
    main()
