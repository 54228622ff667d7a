"""Chunk plans of a sweep: points that share a compiled call's structure (rule, M, normalisation) grouped,
then cut into chunks of ``chunk_size`` points; the frames each chunk saves.

The plan depends on the spec alone (not on the workers), so a resumed run -- local or on Dask -- finds the
same chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from isodyn.dynamics.sweep.spec import RECRUIT_FRAMES, SweepSpec

CHUNK_BYTES = 64 * 2**20  # cap on one chunk's trajectory memory


@dataclass(frozen=True)
class Chunk:
    """``id`` and the flat indices (int64, ascending) of the points it runs in one call."""

    id: int
    index: np.ndarray

    def __len__(self):
        return len(self.index)


def frame_stride(spec: SweepSpec) -> int:
    """Steps between the frames simulate_batch saves: ``run.recruit_stride`` (default steps / 1000,
    rounded up), or its gcd with ``keep.stride`` when trajectories are kept.  The recruitment steps
    have this resolution (dataset attribute ``recruit_resolution``)."""
    f = spec.run["recruit_stride"] or max(1, math.ceil(spec.run["steps"] / RECRUIT_FRAMES))
    if spec.keep["trajectories"]:
        f = math.gcd(f, spec.keep["stride"])
    return f


def default_chunk_size(spec: SweepSpec) -> int:
    """Points per chunk: about 64 chunks a sweep, 16..1024 points each, frame memory capped.

    Depends on the spec only (not on the number of workers), so a resumed run -- local or on Dask
    -- finds the same plan.  simulate_batch holds s and lambda frames (and the recruitment search
    about as much again), so a point costs about 4 M (steps / frame_stride + 2) doubles.
    """
    size = min(1024, max(16, math.ceil(spec.n_points / 64)))
    per_point = spec.max_modes * (spec.run["steps"] // frame_stride(spec) + 2) * 8 * 4
    return min(size, max(1, CHUNK_BYTES // per_point))


def _structural_codes(spec: SweepSpec) -> np.ndarray:
    """(n_points,) group code: points with equal codes share rule structure, M and normalisation."""
    n = spec.n_points
    dims = [i for i, fixed in enumerate(spec.structural) if fixed]
    if not dims:
        return np.zeros(n, dtype=np.int64)
    ks = np.unravel_index(np.arange(n, dtype=np.int64), spec.shape)
    return np.ravel_multi_index([ks[i] for i in dims], [spec.shape[i] for i in dims]).astype(np.int64)


def plan_chunks(spec: SweepSpec, chunk_size: int | None = None) -> list[Chunk]:
    """Deterministic chunk plan: groups in order of first appearance, each cut into runs of
    ``chunk_size`` points (ascending flat indices)."""
    size = chunk_size or spec.run["chunk_size"] or default_chunk_size(spec)
    codes = _structural_codes(spec)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    chunks = []
    for group in np.split(order, bounds):
        for start in range(0, len(group), size):
            chunks.append(Chunk(len(chunks), np.sort(group[start:start + size])))
    return chunks


def saved_steps(spec: SweepSpec) -> np.ndarray:
    return np.arange(0, spec.run["steps"] + 1, spec.keep["stride"], dtype=np.int64)
