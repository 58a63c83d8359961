#!/usr/bin/env python3
"""Exports the PyTorch test models coinfer's graph and engine tests run on.

Standard architectures with branches, random weights (seeded), small enough to commit:
  resnet18-cifar.onnx       CIFAR-form ResNet-18 (3x3 stem, no max-pool), base width 16: residual Adds
  mobilenetv3-small.onnx    torchvision MobileNetV3-Small x0.5: squeeze-excite Muls + residual Adds
  squeezenet1_1.onnx        torchvision SqueezeNet 1.1: Fire modules (Concat)
Beside each model: <name>.input.npy and <name>.output.npy, PyTorch's own output on a random
input, so the tests check tract and ONNX Runtime against PyTorch itself.

Usage: python3 scripts/export_test_models.py [OUT_DIR]   (needs torch, torchvision, numpy)
"""
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models import mobilenetv3


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.shortcut(x))


class ResNet18Cifar(nn.Module):
    """ResNet-18 in its CIFAR form (as in shaojiawei07/Edge_Inference_three-step_framework), width w."""

    def __init__(self, w=16, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        layers, cin = [], w
        for i, cout in enumerate([w, 2 * w, 4 * w, 8 * w]):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def randomize_bn(model, gen):
    # Non-trivial BN statistics, so folding and splitting are really exercised.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def export(model, shape, path, gen):
    model.eval()
    randomize_bn(model, gen)
    x = torch.rand(2, *shape, generator=gen)
    with torch.no_grad():
        y = model(x)
    torch.onnx.export(
        model, (x,), str(path), input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=13, dynamo=False,
    )
    np.save(path.with_suffix(".input.npy"), x.numpy().astype(np.float32))
    np.save(path.with_suffix(".output.npy"), y.numpy().astype(np.float32))
    params = sum(p.numel() for p in model.parameters())
    print(f"{path.name}: {params} parameters, {path.stat().st_size} bytes")


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "models/test")
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    export(ResNet18Cifar(16), (3, 32, 32), out / "resnet18-cifar.onnx", gen)
    settings, last = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.5)
    export(mobilenetv3.MobileNetV3(settings, last, num_classes=10), (3, 64, 64), out / "mobilenetv3-small.onnx", gen)
    export(torchvision.models.squeezenet1_1(num_classes=10), (3, 64, 64), out / "squeezenet1_1.onnx", gen)


if __name__ == "__main__":
    main()
