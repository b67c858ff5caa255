#!/usr/bin/env python3
"""Reference trajectories of LARS and LAMB, written from the papers' algorithms in f64.

Neither paper released a PyTorch implementation (LAMB's official code is TensorFlow), so
the reference here is the update rule as each paper states it, in plain Python floats:

* LARS (You, Gitman & Ginsburg 2017, Algorithm 1): local rate
  ``lambda = eta ||w|| / (||g|| + beta ||w||)``, momentum
  ``v <- m v + gamma lambda (g + beta w)``, ``w <- w - v``; gamma the global rate.
  stoke keeps gamma outside the velocity (``v <- m v + lambda d``, ``w <- w - gamma v``),
  the same trajectory for a constant rate. The ratio is 1 where a norm is zero, and
  ``eps`` is added to the denominator, as in stoke (1e-9 here, negligible).
* LAMB (You et al. 2019, Algorithm 2): Adam moments with bias correction,
  ``r = m_hat / (sqrt(v_hat) + eps)``, ``u = r + lambda w``,
  ``w <- w - gamma phi(||w||) / ||u|| u`` with phi the identity (ratio 1 where a norm is 0).

The problems are stoke's playground functions on one 2-element parameter (see
docs/optimizer-playground.md). Run from the repository root:

    python3 scripts/golden_lars_lamb.py > tests/golden/lars_lamb.json
"""

import json
import math


def rosenbrock(a):
    def grad(x, y):
        return [-2.0 * (1.0 - x) - 4.0 * a * x * (y - x * x), 2.0 * a * (y - x * x)]
    return grad


def quadratic(x, y):
    return [2.0 * x, 2.0 * y]


PROBLEMS = {"rosenbrock": rosenbrock(1.0), "rosenbrock100": rosenbrock(100.0), "quadratic": quadratic}


def norm(v):
    return math.sqrt(sum(t * t for t in v))


def lars(grad, start, lr, steps, momentum, weight_decay, trust_coefficient, eps=1e-9):
    w = list(start)
    v = [0.0, 0.0]
    out = [list(w)]
    for _ in range(steps):
        g = grad(*w)
        wn, gn = norm(w), norm(g)
        local = trust_coefficient * wn / (gn + weight_decay * wn + eps) if wn > 0 and gn > 0 else 1.0
        v = [momentum * vi + lr * local * (gi + weight_decay * wi) for vi, gi, wi in zip(v, g, w)]
        w = [wi - vi for wi, vi in zip(w, v)]
        out.append(list(w))
    return out


def lamb(grad, start, lr, steps, beta1, beta2, eps, weight_decay):
    w = list(start)
    m = [0.0, 0.0]
    v = [0.0, 0.0]
    out = [list(w)]
    for t in range(1, steps + 1):
        g = grad(*w)
        m = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(m, g)]
        v = [beta2 * vi + (1 - beta2) * gi * gi for vi, gi in zip(v, g)]
        r = [(mi / (1 - beta1 ** t)) / (math.sqrt(vi / (1 - beta2 ** t)) + eps) for mi, vi in zip(m, v)]
        u = [ri + weight_decay * wi for ri, wi in zip(r, w)]
        wn, un = norm(w), norm(u)
        ratio = wn / un if wn > 0 and un > 0 else 1.0
        w = [wi - lr * ratio * ui for wi, ui in zip(w, u)]
        out.append(list(w))
    return out


def main():
    cases = []
    for problem, start, lr, steps, options in [
        ("rosenbrock", [-1.5, 2.0], 1.0, 60, {"momentum": 0.9, "weight_decay": 0.01, "trust_coefficient": 0.02}),
        ("quadratic", [1.5, -0.7], 0.5, 40, {"momentum": 0.5, "weight_decay": 0.0, "trust_coefficient": 0.1}),
    ]:
        trajectory = lars(PROBLEMS[problem], start, lr, steps, **options)
        cases.append({"optimizer": "lars", "problem": problem, "lr": lr, "steps": steps, "start": start,
                      "options": dict(options, exclude_1d=False), "trajectory": trajectory})
    for problem, start, lr, steps, options in [
        ("rosenbrock", [-1.5, 2.0], 0.02, 80, {"beta1": 0.9, "beta2": 0.999, "eps": 1e-6, "weight_decay": 0.01}),
        ("rosenbrock100", [0.3, -0.4], 0.01, 60, {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.0}),
    ]:
        trajectory = lamb(PROBLEMS[problem], start, lr, steps, **options)
        cases.append({"optimizer": "lamb", "problem": problem, "lr": lr, "steps": steps, "start": start,
                      "options": options, "trajectory": trajectory})
    print(json.dumps({"source": "scripts/golden_lars_lamb.py (the papers' algorithms, f64)", "cases": cases}, indent=1))


if __name__ == "__main__":
    main()
