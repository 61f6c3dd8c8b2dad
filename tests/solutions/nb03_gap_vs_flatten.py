"""Reference solutions of notebook 03_gap_vs_flatten's exercises, computed from the models themselves."""

from lecture_utils.models.shifted import cnn_flatten, cnn_gap


def n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


gap = cnn_gap()

SOLUTIONS = {
    # The dense layer after flatten has one weight per (position, channel): a shifted digit meets new weights.
    "03.which_fails": "flatten",
    "03.gap_params": n_params(gap.gpooling),
    "03.gap_head_params": n_params(gap.classifier) + n_params(gap.output),
    "03.param_ratio": round(n_params(cnn_flatten()) / n_params(gap), 2),
}
