#!/usr/bin/env python3
"""Golden logits of a narrow torchvision ResNet for `stoke import` (tests/import.rs).

torchvision's own ResNet, BasicBlock and forward, made narrow so the file stays small: the
stages are rebuilt with torchvision's `_make_layer` at widths 8/16/32/64 with 2, 1, 1, 1 blocks
(so the name mapping's running block index is exercised)
after a 7x7 stem of 8 channels. Weights are torchvision's default initialisation (seed 0),
then the batch norms get non-trivial statistics and affine parameters so a mapping error
anywhere shows in the logits. Writes the state dict (num_batches_tracked included, as
torch.save would have it) as safetensors, and a fixed input batch with its eval-mode
logits as JSON.

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch==2.9.0 torchvision pillow safetensors
    /tmp/tv/bin/python scripts/golden_torchvision_resnet.py tests/golden
"""

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet


def narrow_resnet() -> ResNet:
    torch.manual_seed(0)
    model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10)
    model.inplanes = 8
    model.conv1 = nn.Conv2d(3, 8, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(8)
    model.layer1 = model._make_layer(BasicBlock, 8, 2)
    model.layer2 = model._make_layer(BasicBlock, 16, 1, stride=2)
    model.layer3 = model._make_layer(BasicBlock, 32, 1, stride=2)
    model.layer4 = model._make_layer(BasicBlock, 64, 1, stride=2)
    model.fc = nn.Linear(64, 10)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(1.0 + 0.2 * torch.randn(n, generator=generator))
                module.bias.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(n, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                module.num_batches_tracked.fill_(7)
    return model.eval()


def main(out: Path) -> None:
    model = narrow_resnet()
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model(images)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(out / "torchvision_resnet.safetensors"))
    golden = {
        "source": "scripts/golden_torchvision_resnet.py (torch %s)" % torch.__version__,
        "shape": list(images.shape),
        "images": images.flatten().tolist(),
        "logits": logits.tolist(),
    }
    (out / "torchvision_resnet.json").write_text(json.dumps(golden))
    print("wrote", len(state), "tensors;", "logits[0] =", [round(v, 5) for v in logits[0].tolist()])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
