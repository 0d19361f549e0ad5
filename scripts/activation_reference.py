#!/usr/bin/env python3
"""Reference values of gradnet's activations, computed with mpmath at 60 digits.

    python3 scripts/activation_reference.py > gradnet-core/tests/data/activation_reference.txt
    python3 scripts/activation_reference.py --zeros   # the constants in activation.rs

The table is read by gradnet-core/tests/activations.rs. Every x is an f32 (written as the
shortest decimal that parses back to it), so the same point is exact in f32 and f64. Each
section starts with `# name`; each line is `x f(x) f'(x)`, the values rounded to 16
significant digits. The formulas are the functions' mathematical definitions (PyTorch's
formulas), written without cancellation so that 60 digits are plenty even where the
result is 1e-260; `main` checks each derivative against mpmath's numerical `diff`.

`--zeros` prints the simple zero x0 of the derivatives of gelu, gelu_tanh and silu (as
two f64s, hi + lo) and the Taylor coefficients of the derivative there, which
activation.rs uses within `ZERO_RADIUS` of x0, where the closed form cancels.
"""

import random
import struct
import sys

import mpmath as mp
from mpmath import mpf

mp.mp.dps = 60

SQRT_2_OVER_PI = mp.sqrt(2 / mp.pi)
KAPPA = mpf("0.044715")
SELU_ALPHA = mpf("1.6732632423543772848170429916717")
SELU_SCALE = mpf("1.0507009873554804934193349852946")


def sig(x):
    return 1 / (1 + mp.exp(-x))


def phi(x):
    return mp.exp(-x * x / 2) / mp.sqrt(2 * mp.pi)


def cdf(x):
    return mp.erfc(-x / mp.sqrt(2)) / 2


def gelu_tanh_u(x):
    return SQRT_2_OVER_PI * (x + KAPPA * x**3), SQRT_2_OVER_PI * (1 + 3 * KAPPA * x**2)


def gelu_tanh(x):
    u, _ = gelu_tanh_u(x)
    return x * sig(2 * u)  # x/2 (1 + tanh u)


def gelu_tanh_d(x):
    u, du = gelu_tanh_u(x)
    return sig(2 * u) + 2 * x * du * sig(2 * u) * sig(-2 * u)


def elu(x, alpha=1):
    return x if x > 0 else alpha * mp.expm1(x)


def elu_d(x, alpha=1):
    return mpf(1) if x > 0 else alpha * mp.exp(x)


# name: (f, f', kinks where f' is PyTorch's one-sided value rather than mpmath's diff)
FUNCTIONS = {
    "sigmoid": (sig, lambda x: sig(x) * sig(-x)),
    "tanh": (mp.tanh, lambda x: mp.sech(x) ** 2),
    "gelu": (lambda x: x * cdf(x), lambda x: cdf(x) + x * phi(x)),
    "gelu_tanh": (gelu_tanh, gelu_tanh_d),
    "silu": (lambda x: x * sig(x), lambda x: sig(x) * (1 + x * sig(-x))),
    # PyTorch's default threshold 20: x itself above it.
    "softplus": (
        lambda x: x if x > 20 else mp.log1p(mp.exp(x)),
        lambda x: mpf(1) if x > 20 else sig(x),
    ),
    "elu": (elu, elu_d),
    "selu": (
        lambda x: SELU_SCALE * elu(x, SELU_ALPHA),
        lambda x: SELU_SCALE * elu_d(x, SELU_ALPHA),
    ),
}
KINKS = {"softplus": [20], "elu": [0], "selu": [0]}

# The derivatives with a simple zero, and a starting point for findroot.
ZEROS = {"gelu": -0.75, "gelu_tanh": -0.75, "silu": -1.28}
# Must match ZERO_RADIUS in activation.rs; TERMS its coefficient count.
ZERO_RADIUS = mpf(1) / 32
TERMS = 8


def f32(x):
    """x rounded to the nearest f32, as a Python float."""
    return struct.unpack("<f", struct.pack("<f", float(x)))[0]


def f32_step(x, k):
    """The f32 k steps (ulps) away from the non-zero f32 x, away from 0 for k > 0."""
    (bits,) = struct.unpack("<i", struct.pack("<f", x))
    bits += k if x > 0 else -k
    return struct.unpack("<f", struct.pack("<i", bits))[0]


def short(x):
    """The shortest decimal that parses back to the f32 x."""
    for digits in range(1, 10):
        s = "%.*g" % (digits, x)
        if f32(float(s)) == x:
            return repr(float(s))
    raise AssertionError(x)


def zero(name):
    return mp.findroot(FUNCTIONS[name][1], ZEROS[name])


def points(name):
    xs = {f32(i / 2) for i in range(-40, 41)}  # the grid, step 1/2
    for e in [1, 2, 3, 5, 7, 10, 20, 30]:  # near 0
        xs |= {f32(10.0**-e), f32(-(10.0**-e)), f32(3 * 10.0**-e)}
    rng = random.Random(name)
    xs |= {f32(rng.uniform(-20, 20)) for _ in range(24)}
    xs |= {f32(rng.uniform(-2, 2)) for _ in range(12)}
    if name in ("gelu", "gelu_tanh"):
        # Where the result leaves f32's normal range (about -13.1 and -9.8).
        xs |= {f32(-9 - i / 8) for i in range(36)}
    if name in ZEROS:
        x0 = f32(zero(name))
        xs |= {f32_step(x0, k) for k in range(-4, 5)}
        for d in [1e-6, 1e-5, 1e-4, 1e-3, 5e-3, 0.0155, 0.0157, 0.031, 0.032, 0.1]:
            xs |= {f32(x0 - d), f32(x0 + d)}
    for k in KINKS.get(name, []):
        xs.add(f32(k))
        if k != 0:  # 0 has its neighbours among the points near 0
            xs |= {f32_step(f32(k), 1), f32_step(f32(k), -1)}
    return sorted(xs)


def check(name, f, df, x):
    """The stated derivative against mpmath's numerical one, away from kinks."""
    if any(abs(x - k) < 1e-3 for k in KINKS.get(name, [])):
        return
    numeric = mp.diff(f, mpf(x))
    exact = df(mpf(x))
    assert abs(numeric - exact) <= mpf(10) ** -40 * max(abs(exact), mpf(10) ** -300), (
        name,
        x,
        numeric,
        exact,
    )


def table():
    print("# Generated by scripts/activation_reference.py (mpmath %s, 60 digits)." % mp.__version__)
    for name, (f, df) in FUNCTIONS.items():
        print("# " + name)
        for x in points(name):
            check(name, f, df, x)
            xm = mpf(x)
            print(short(x), mp.nstr(f(xm), 16, min_fixed=1, max_fixed=0),
                  mp.nstr(df(xm), 16, min_fixed=1, max_fixed=0))


def rust_float(x):
    """repr(x) with `_` between groups of three fraction digits, as rustfmt leaves them."""
    s = repr(float(x))
    mant, e, exp = s.partition("e")
    whole, dot, frac = mant.partition(".")
    frac = "_".join(frac[i : i + 3] for i in range(0, len(frac), 3))
    return whole + dot + frac + e + exp


def zeros():
    for name in ZEROS:
        df = FUNCTIONS[name][1]
        x0 = zero(name)
        hi = float(x0)
        lo = float(x0 - hi)
        coeffs = mp.taylor(df, x0, TERMS + 1)
        assert abs(coeffs[0]) < mpf(10) ** -50
        # The first term left out, at the edge of the window, relative to the leading one.
        tail = abs(coeffs[TERMS + 1] * ZERO_RADIUS**TERMS / coeffs[1])
        print("// %s: x0 = %s; first omitted term / leading term at the edge: %s"
              % (name, mp.nstr(x0, 25), mp.nstr(tail, 3)))
        print("Zero {\n    hi: %s,\n    lo: %s,\n    c: [\n%s    ],\n};" % (
            rust_float(hi), rust_float(lo),
            "".join("        %s,\n" % rust_float(c) for c in coeffs[1 : TERMS + 1])))


if __name__ == "__main__":
    if sys.argv[1:] == ["--zeros"]:
        zeros()
    else:
        table()
