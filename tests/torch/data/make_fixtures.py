#!/usr/bin/python3
"""Regenerates the TorchScript fixtures of tests/torch/torchscript_test.cpp.

    /usr/bin/python3 tests/torch/data/make_fixtures.py

Needs PyTorch (Debian's python3-torch 1.13 is what made the committed files). Writes next to this
script and prints each file's parameter count, which torchscript_test.cpp repeats: the C++ loader
must find the same number of parameters as Python does.
"""
import os

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class SkipBlock(nn.Module):
    """y = x + b(relu(a(x))): not a chain of children, so not loadable as a Sequential."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)

    def forward(self, x):
        return x + self.b(torch.relu(self.a(x)))


class Pair(nn.Module):
    """A child that returns two tensors."""

    def forward(self, x):
        return x, x * 2


def count(module):
    return sum(p.numel() for p in module.parameters())


def save_script(name, module):
    path = os.path.join(HERE, name)
    torch.jit.script(module).save(path)
    print(f"{name}: {count(module)} parameters, {os.path.getsize(path)} bytes")


def main():
    torch.manual_seed(0)
    # 3x16x16 images -> 10 outputs. Flatten returns a view of its input: the loader fuses it into
    # the pooling op before it.
    save_script("convnet.pt", nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10)))
    # 16-feature vectors -> 4 outputs, one op per child.
    save_script("mlp.pt", nn.Sequential(
        nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)))
    # 4x4 samples: a leading view of the batch (Flatten), an in-place ReLU and a trailing Identity,
    # which the loader fuses into their neighbours.
    save_script("views.pt", nn.Sequential(
        nn.Flatten(), nn.Linear(16, 32), nn.ReLU(inplace=True), nn.Linear(32, 8), nn.Identity()))
    # Error cases.
    save_script("skip.pt", SkipBlock())
    save_script("pair.pt", nn.Sequential(nn.Linear(4, 4), Pair()))
    save_script("inplace_first.pt", nn.Sequential(nn.ReLU(inplace=True), nn.Linear(4, 4)))
    # torch.save of a state dict: a zip archive, but not TorchScript.
    path = os.path.join(HERE, "state_dict.pt")
    torch.save(nn.Linear(4, 4).state_dict(), path)
    print(f"state_dict.pt: not TorchScript, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
