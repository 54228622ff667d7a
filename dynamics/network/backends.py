"""Array backends for the network simulators: NumPy on the CPU, CuPy on a CUDA GPU (issue 4).

``resolve(name)`` turns ``auto | numpy | cupy`` into a :class:`Backend`; ``cupy`` where CuPy
or a CUDA device is not usable raises :class:`BackendUnavailable` (the CLI turns it into exit
status 2) - a backend is never switched silently.  ``auto`` picks CuPy when it is usable and
the caller reports which one ran.

The per-sample gradient of the generated kernels (``kernels(rule).grad_online`` /
``grad_target``, written with ``xp.*``) runs on either backend as it is.  On CuPy two fused
alternatives are offered and benchmarked against it:

* ``elementwise``: the generated function's body translated (by its syntax tree, no
  mathematics retyped) into one ``cupy.ElementwiseKernel``;
* ``fuse``: the generated function traced by ``cupy.fuse``.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

BACKENDS = ("auto", "numpy", "cupy")
GRAD_IMPLS = ("xp", "elementwise", "fuse")  # of gradient_function
#: the trainer's grad_impl: auto (numba on NumPy, elementwise on CuPy), the generated numba loops (NumPy only), or
#: one of gradient_function's (elementwise and fuse: CuPy only)
TRAINER_GRAD_IMPLS = ("auto", "numba", *GRAD_IMPLS)


class BackendUnavailable(RuntimeError):
    """The requested backend cannot run here (message: why)."""


@lru_cache(maxsize=1)
def cupy_status() -> tuple[bool, str]:
    """(usable, reason): CuPy imports, a CUDA device exists and a tiny kernel runs."""
    try:
        import cupy
    except Exception as e:  # ImportError, or a broken CUDA installation
        return False, f"CuPy cannot be imported ({type(e).__name__}: {e})".splitlines()[0]
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return False, "no CUDA device is visible"
        if int((cupy.arange(4) ** 2).sum().item()) != 14:
            return False, "a CuPy test kernel returned a wrong result"
    except Exception as e:
        return False, f"no usable CUDA device ({type(e).__name__}: {e})".splitlines()[0]
    return True, "ok"


@dataclass(frozen=True)
class Backend:
    """name 'numpy' | 'cupy'; xp the array module."""

    name: str
    xp: object

    def rng(self, seed: int):
        """A seeded normal generator with ``normal(shape, dtype, out=None)``: same seed, same numbers (into ``out``
        where given and the generator can; the values are the same either way)."""
        if self.name == "cupy":
            return _CupyRNG(self.xp, seed)
        return _NumpyRNG(seed)

    def asnumpy(self, a):
        return self.xp.asnumpy(a) if self.name == "cupy" else np.asarray(a)

    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=dtype)

    def gradient_function(self, k, which: str, impl: str = "auto"):
        """f(Z1, Z2, lam, beta, Q) -> (n, M), the generated ``k.<which>`` on this backend.

        impl 'auto' is 'xp' on NumPy and 'elementwise' on CuPy; the chosen name is in ``.impl``.
        """
        if impl == "auto":
            impl = "elementwise" if self.name == "cupy" else "xp"
        if impl not in GRAD_IMPLS:
            raise ValueError(f"gradient implementation {impl!r}; accepted: {GRAD_IMPLS}")
        gen = getattr(k, which)
        xp = self.xp
        if impl == "xp":
            def f(Z1, Z2, lam, beta, Q):
                return gen(xp, Z1, Z2, lam, beta, Q)
        elif self.name != "cupy":
            raise ValueError(f"gradient implementation {impl!r} needs the cupy backend")
        elif impl == "elementwise":
            f = _elementwise(xp, gen)
        else:
            f = _fused(xp, gen)
        f.impl = impl
        return f


def resolve(name: str) -> Backend:
    """Backend for ``auto | numpy | cupy``; BackendUnavailable for cupy where it cannot run."""
    if name not in BACKENDS:
        raise ValueError(f"backend {name!r}; accepted: {BACKENDS}")
    if name == "numpy":
        return Backend("numpy", np)
    ok, why = cupy_status()
    if name == "cupy" and not ok:
        raise BackendUnavailable(why)
    if ok:
        import cupy

        return Backend("cupy", cupy)
    return Backend("numpy", np)


class _NumpyRNG:
    """SFC64 (a small fast chaotic generator; NumPy's fastest bit generator, passes PractRand and BigCrush):
    the inputs are most of a large-n step's work, and SFC64 draws normals ~1.6x faster than the default PCG64."""

    def __init__(self, seed):
        self.gen = np.random.Generator(np.random.SFC64(seed))

    def normal(self, shape, dtype, out=None):
        if out is None:
            return self.gen.standard_normal(shape, dtype=dtype)
        return self.gen.standard_normal(dtype=dtype, out=out)


class _CupyRNG:
    def __init__(self, cupy, seed):
        self.gen = cupy.random.RandomState(seed)

    def normal(self, shape, dtype, out=None):  # CuPy's generator has no ``out`` (its memory pool reuses blocks)
        return self.gen.standard_normal(shape, dtype=dtype)


# --- generated xp code -> one CUDA elementwise kernel ------------------------------------


class _ToC(ast.NodeVisitor):
    """Translate the expressions of a generated gradient function to CUDA C (type T)."""

    FUNCS = {"sqrt": "sqrt", "exp": "exp", "log": "log", "abs": "fabs", "sin": "sin", "cos": "cos"}

    def expr(self, node) -> str:
        if isinstance(node, ast.BinOp):
            a, b = self.expr(node.left), self.expr(node.right)
            if isinstance(node.op, ast.Pow):
                e = node.right
                if isinstance(e, ast.Constant) and isinstance(e.value, int) and 1 <= e.value <= 4:
                    return "(" + "*".join([a] * e.value) + ")"
                return f"pow({a}, {b})"
            ops = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
            if type(node.op) not in ops:
                raise NotImplementedError(ast.dump(node.op))
            return f"({a} {ops[type(node.op)]} {b})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"(-{self.expr(node.operand)})"
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return f"((T){float(node.value)!r})"
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "Q":
            return f"Q{ast.literal_eval(node.slice)}"
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "xp"
                and node.func.attr in self.FUNCS and len(node.args) == 1):
            return f"{self.FUNCS[node.func.attr]}({self.expr(node.args[0])})"
        raise NotImplementedError(f"cannot translate {ast.unparse(node)!r} to CUDA C")


def elementwise_source(gen) -> tuple[str, int]:
    """(CUDA body, number of invariants Q used) for a generated ``grad_*`` function."""
    fn = ast.parse(inspect.getsource(gen)).body[0]
    tr = _ToC()
    lines = []
    for st in fn.body:
        if isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant):  # docstring
            continue
        if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
            lines.append(f"T {st.targets[0].id} = {tr.expr(st.value)};")
            continue
        if isinstance(st, ast.Return):
            v = st.value  # xp.zeros_like(Z1) + (expr)
            if not (isinstance(v, ast.BinOp) and isinstance(v.op, ast.Add) and isinstance(v.left, ast.Call)
                    and isinstance(v.left.func, ast.Attribute) and v.left.func.attr == "zeros_like"):
                raise NotImplementedError(f"unexpected return {ast.unparse(v)!r}")
            lines.append(f"g = {tr.expr(v.right)};")
            continue
        raise NotImplementedError(f"unexpected statement {ast.unparse(st)!r}")
    body = "\n".join(lines)
    nq = 0
    while f"Q{nq}" in body:
        nq += 1
    return body, nq


def _elementwise(cupy, gen):
    body, nq = elementwise_source(gen)
    params = ", ".join(["T Z1", "T Z2", "T lam", "T beta"] + [f"T Q{i}" for i in range(nq)])
    kern = cupy.ElementwiseKernel(params, "T g", body, "isodyn_grad_" + gen.__name__)

    def f(Z1, Z2, lam, beta, Q):
        b = cupy.asarray(beta, dtype=Z1.dtype)
        return kern(Z1, Z2, lam.reshape(1, -1), b, *Q[:nq])

    return f


class _FuseNamespace:
    """What a generated function needs of ``xp`` inside ``cupy.fuse``."""

    def __init__(self, cupy):
        self.sqrt, self.exp, self.log, self.abs = cupy.sqrt, cupy.exp, cupy.log, cupy.abs

    @staticmethod
    def zeros_like(a):
        return 0


def _fused(cupy, gen):
    ns = _FuseNamespace(cupy)

    @cupy.fuse(kernel_name="isodyn_fused_" + gen.__name__)
    def traced(Z1, Z2, lam, beta, *Q):
        return gen(ns, Z1, Z2, lam, beta, Q) + Z1 * 0

    def f(Z1, Z2, lam, beta, Q):
        b = cupy.asarray(beta, dtype=Z1.dtype)
        return traced(Z1, Z2, lam.reshape(1, -1), b, *Q)

    return f
