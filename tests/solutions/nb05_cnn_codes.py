"""Reference solutions of notebook 05_cnn_codes's exercises, computed from the model itself."""

import torch

from lecture_utils import codes, transfer

SOLUTIONS = {
    "05.block2_code_length": codes.extract(transfer.small_cnn(10), torch.zeros(1, 1, 28, 28), "1").shape[1],
    # t-SNE preserves neighbourhoods, not distances between clusters
    "05.tsne_gaps": "no",
}
