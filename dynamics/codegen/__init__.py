"""isodyn.dynamics.codegen - derivations/ expressions -> generated, cached numba kernels and NumPy/CuPy twins."""

from .kernels import cache_dir, derivations_hash, generate_source, kernels, load_module, store_source

__all__ = ["cache_dir", "derivations_hash", "generate_source", "kernels", "load_module",
           "store_source"]
