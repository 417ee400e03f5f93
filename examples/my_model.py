"""A model file as a new user writes it, for `python -m mbsnet memory --model examples/my_model.py:build --batch 8`."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class SmallCNN(nn.Module):
    """(b, 3, 32, 32) images -> (b, 10) logits."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64),
                                      nn.ReLU(inplace=True), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.head(self.features(x))


def build():
    return {"build": SmallCNN,
            "batch": lambda b: (torch.randn(b, 3, 32, 32), torch.randint(0, 10, (b,))),
            "loss": lambda model, batch: F.cross_entropy(model(batch[0]), batch[1])}
