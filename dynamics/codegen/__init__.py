"""isodyn.dynamics.codegen - derivations/ expressions -> generated, cached numba kernels and NumPy/CuPy twins.

  cache.py        the kernel cache on disk (hashes, atomic writes, the index, loading a module from its file)
  printing.py     sympy -> Python source (scalar numba code or xp array code), common subexpressions
  templating.py   the Jinja2 environment (StrictUndefined) of templates/
  kernels.py      a rule's kernel module (gradients, s and lambda, the drift, the exact closure's integrand)
  integrators.py  a rule's integrator module (map, Runge-Kutta, Dormand-Prince drivers) from the kernels
  fastmath.py     the vectorised powers and borrowed views the generated loops call
  lambdified.py   cached lambdify: sympy expressions printed as NumPy functions into the cache
  templates/      kernels.py.j2, integrators.py.j2 (+ the macros they include)
"""

from .cache import cache_dir, generator_hash, load_module, store_source
from .kernels import generate_source, kernels

__all__ = ["cache_dir", "generate_source", "generator_hash", "kernels", "load_module", "store_source"]
