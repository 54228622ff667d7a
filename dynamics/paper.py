"""The paper's settings (SPEC §5) that several stages share: simulate's default learning rate, the
validation matrix, sweep specs and the figures."""

from __future__ import annotations


def paper_lr(rule) -> float:
    """SPEC §5: eta = 0.01 for Euclidean standard / no-stopgrad / iso (and the family, wrong-stopgrad),
    0.1 for every cosine rule and for Euclidean no-predictor."""
    if rule.metric == "cosine" or rule.variant == "no-predictor":
        return 0.1
    return 0.01
