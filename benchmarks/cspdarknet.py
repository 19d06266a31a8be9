"""A CSPDarknet-53 built here (no timm needed): timm's ``cspdarknet53`` layout with random weights.

Stem: 3x3 conv to 32 channels. Five cross-stage-partial stages (out 64, 128, 256, 512, 1024; depths 1, 2, 8,
8, 4), each: a 3x3 stride-2 conv down, a 1x1 conv that expands (x2 in the first stage), a split into two
halves, residual Darknet blocks (1x1 then 3x3) on one half, a 1x1 transition on it, the halves joined and a
1x1 transition out. Every conv is bias-free and followed by BatchNorm and LeakyReLU(0.01, inplace=True).
Head: global average pool and a 1000-way linear layer.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_bn_act(in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(0.01, inplace=True),
    )


class DarkBlock(nn.Module):
    def __init__(self, channels: int, mid_channels: int) -> None:
        super().__init__()
        self.conv1 = conv_bn_act(channels, mid_channels, 1)
        self.conv2 = conv_bn_act(mid_channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class CrossStage(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, depth: int, expand: int, bottle: float) -> None:
        super().__init__()
        half = out_channels * expand // 2
        self.conv_down = conv_bn_act(in_channels, out_channels, 3, 2)
        self.conv_exp = conv_bn_act(out_channels, 2 * half, 1)
        self.blocks = nn.Sequential(*(DarkBlock(half, int(half * bottle)) for _ in range(depth)))
        self.conv_transition_b = conv_bn_act(half, half, 1)
        self.conv_transition = conv_bn_act(2 * half, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_exp(self.conv_down(x))
        shortcut, main = x.chunk(2, dim=1)
        main = self.conv_transition_b(self.blocks(main))
        return self.conv_transition(torch.cat([shortcut, main], dim=1))


def cspdarknet53(num_classes: int = 1000) -> nn.Module:
    stages, channels = [], 32
    for index, (out_channels, depth) in enumerate(zip((64, 128, 256, 512, 1024), (1, 2, 8, 8, 4))):
        expand, bottle = (2, 0.5) if index == 0 else (1, 1.0)
        stages.append(CrossStage(channels, out_channels, depth, expand, bottle))
        channels = out_channels
    return nn.Sequential(
        conv_bn_act(3, 32, 3),
        *stages,
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(channels, num_classes),
    )
