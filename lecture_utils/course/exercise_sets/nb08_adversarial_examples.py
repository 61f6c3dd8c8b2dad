"""Exercises of notebook 08_adversarial_examples: the linear explanation, targeted FGSM, FGSM vs PGD, eps units."""

from ..checkers import Exercise, choice_check, number_check, register

NOTEBOOK = "08_adversarial_examples"

register(Exercise(
    "08.linear_change", NOTEBOOK,
    "A linear unit has 784 inputs, every |w_i| = 0.01. By how much can an FGSM step with eps = 0.1 change "
    "its activation at most?",
    number_check(0.1 * 784 * 0.01, {
        0.1 * 0.01: "that is one input's share; the step moves all 784 inputs, each in the direction of sign(w_i).",
        0.1: "eps is the change of each input, not of the activation: multiply by sum |w_i|.",
        784 * 0.01: "that is ||w||_1; each input moves by eps = 0.1.",
        0.1 * 28 * 0.01: "use all 784 inputs (28 x 28), not one row.",
    }, rel_tol=1e-6, why="eps ||w||_1 = 0.1 x 784 x 0.01: tiny changes of many inputs add up."),
    hints=("w.(x + eps sign(w)) - w.x = eps sum_i |w_i|.",),
))

register(Exercise(
    "08.targeted_direction", NOTEBOOK,
    "Targeted FGSM: step along or against the gradient of J(x, y_target)? Answer 'along' or 'against'.",
    choice_check("against", {
        "against": "x - eps sign(grad J(x, y_target)) lowers the target's loss: the net moves towards y_target.",
        "along": "stepping along the gradient raises the loss of y_target: the net moves away from the target.",
    }, aliases={"minus": "against", "plus": "along", "-": "against", "+": "along"}),
    hints=("Untargeted FGSM raises the true label's loss. What should happen to the target's loss?",),
))

register(Exercise(
    "08.fgsm_vs_pgd", NOTEBOOK,
    "The FGSM-trained net resists FGSM much better than PGD at the same eps. Why: 'a' (PGD uses a larger eps), "
    "'b' (one-step training taught it to resist the one linear step, not every point of the eps-ball), or 'c' "
    "(PGD examples are not valid images)?",
    choice_check("b", {
        "a": "both attacks are projected onto the same eps-ball: PGD only takes more, smaller steps inside it.",
        "b": "yes: the loss rises slowly along the single FGSM step, but the eps-ball still holds adversarial "
             "examples, and several gradient steps find them.",
        "c": "PGD clamps to [0, 1] after every step: its examples are valid images.",
    }),
    hints=("Compare where the two attacks may go (the eps-ball) and how they search it.",),
))

register(Exercise(
    "08.eps_units", NOTEBOOK,
    "EfficientNet-Lite's preprocessing maps a 0-255 pixel p to (p - 127)/128. An FGSM step of eps = 2/255 on "
    "pixels in [0, 1] (two grey levels): how large is it in the net's input units?",
    number_check(2 / 128, {
        2 / 255: "that is the step in pixel units [0, 1]; the net divides grey levels by 128.",
        2: "that is the step in grey levels (0-255); the preprocessing divides by 128.",
        2 / 255 / 128: "the [0, 1] pixel is first scaled back to 0-255: two grey levels, each 1/128 of an input unit.",
        2 / 127: "127 is the offset that is subtracted; a difference of two pixels does not see it: divide by 128.",
    }, rel_tol=1e-3, why="(p + 2 - 127)/128 - (p - 127)/128 = 2/128: the offset cancels, the scale stays."),
    hints=("Write the preprocessed value of p and of p + 2 grey levels and subtract.",),
))
