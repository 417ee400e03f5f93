"""A model the predictor cannot trace: its forward reads a value (`.item()`), which tensors without values lack.

    python -m mbsnet memory --model examples/reads_a_value.py:build --batch 2
prints one line naming the op and exits with status 2.
"""
import torch
import torch.nn as nn


class ReadsAValue(nn.Module):
    """(b, 4) -> (b, 4), scaled by the sum of its own output: a data-dependent Python float."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x)
        return y * float(y.sum().item())


def build():
    return {"build": ReadsAValue, "batch": lambda b: torch.randn(b, 4), "loss": lambda model, x: model(x).sum()}
