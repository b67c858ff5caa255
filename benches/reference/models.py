"""PyTorch reference models matching stoke's presets (used by the reference scripts).

* `SmallCnn`   — stoke's `small_cnn`: the quickstart model for 1x28x28 inputs, three
                 conv3x3-BN-ReLU blocks (widths 24/48/96) each followed by a 2x2 max-pool,
                 flatten, linear head; 61,042 parameters.
* `CifarResNet18` — stoke's `resnet18`: the common CIFAR ResNet-18 (3x3 stride-1 stem,
                 no max-pool, BasicBlocks [2,2,2,2], 11,173,962 parameters for 10 classes).

Not meant to be run directly; imported by train_step.py and quickstart_fashion.py.
"""

import torch
from torch import nn
import torch.nn.functional as F

RESNET18_CIFAR10_PARAMS = 11_173_962
SMALL_CNN_PARAMS = 61_042


def conv_bn_relu(cin, cout):
    """conv3x3 (padding 1, stride 1, no bias) -> BatchNorm2d -> ReLU."""
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True)]


class SmallCnn(nn.Module):
    """stoke's `small_cnn`, the quickstart model.

    With the defaults (1x28x28 input, widths (24, 48, 96), head "flatten"), layer by layer:
        conv3x3(1->24,  stride 1, pad 1, no bias) BN ReLU  maxpool 2x2 stride 2  -> 24x14x14
        conv3x3(24->48, stride 1, pad 1, no bias) BN ReLU  maxpool 2x2 stride 2  -> 48x7x7
        conv3x3(48->96, stride 1, pad 1, no bias) BN ReLU  maxpool 2x2 stride 2  -> 96x3x3
            (7 -> 3: floor, the last row and column are dropped)
        flatten (channel-major, C*H*W = 864)
        linear 864->10 (with bias)
    No dropout. 61,042 trainable parameters.

    Variants used when choosing it: `pools` says after which blocks a 2x2/2 max-pool
    follows; `head` is "flatten" or "gap" (global average pool); `convs` is the number of
    conv-BN-ReLU per block.
    """

    def __init__(self, in_channels=1, num_classes=10, widths=(24, 48, 96),
                 pools=(True, True, True), head="flatten", convs=1, input_hw=28):
        super().__init__()
        layers, cin, hw = [], in_channels, input_hw
        for w, pool in zip(widths, pools):
            for _ in range(convs):
                layers += conv_bn_relu(cin, w)
                cin = w
            if pool:
                layers.append(nn.MaxPool2d(2, 2))
                hw //= 2
        self.features = nn.Sequential(*layers)
        self.head_kind = head
        features = cin if head == "gap" else cin * hw * hw
        self.head = nn.Linear(features, num_classes)

    def forward(self, x):
        x = self.features(x)
        if self.head_kind == "gap":
            x = F.adaptive_avg_pool2d(x, 1)
        return self.head(torch.flatten(x, 1))


class BasicBlock(nn.Module):
    """Two conv3x3-BN layers with an identity or 1x1-conv+BN shortcut."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 for 3x32x32 inputs: conv3x3(3->64, stride 1) BN ReLU, no max-pool,
    stages of 2 BasicBlocks with widths 64/128/256/512 and strides 1/2/2/2,
    global average pool, linear head."""

    def __init__(self, in_channels=3, num_classes=10, blocks=(2, 2, 2, 2),
                 widths=(64, 128, 256, 512), strides=(1, 2, 2, 2)):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn_relu(in_channels, widths[0]))
        stages, cin = [], widths[0]
        for n, w, s in zip(blocks, widths, strides):
            for i in range(n):
                stages.append(BasicBlock(cin, w, s if i == 0 else 1))
                cin = w
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.stages(self.stem(x))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.head(x)


def count_params(model):
    """Number of trainable parameters (BN running statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build(name, num_classes=10):
    """Return (model, input shape without the batch dimension)."""
    if name == "resnet18":
        return CifarResNet18(num_classes=num_classes), (3, 32, 32)
    if name == "small_cnn":
        return SmallCnn(num_classes=num_classes), (1, 28, 28)
    raise ValueError(f"unknown model {name!r}")
