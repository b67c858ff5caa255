#!/usr/bin/env python3
"""Golden logits of a tiny timm ViT (DeiT/ViT layout) for `stoke import` (tests/import.rs).

timm's own VisionTransformer (class token, token pooling, fused qkv, exact GELU, layer-norm
eps 1e-6), made tiny so the file stays small: 28x28 grey images in 7x7 patches, width 16,
depth 2, 2 heads. Every parameter is redrawn (seed 0) so that a mapping or layout error
anywhere shows in the logits. Writes the state dict as safetensors and a fixed input batch
with its eval-mode logits as JSON.

    /tmp/tv/bin/pip install timm   # beside torch, as for golden_torchvision_resnet.py
    /tmp/tv/bin/python scripts/golden_timm_vit.py tests/golden
"""

import json
import sys
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer


def main(out: Path) -> None:
    torch.manual_seed(0)
    model = VisionTransformer(
        img_size=28, patch_size=7, in_chans=1, num_classes=10, embed_dim=16, depth=2, num_heads=2
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(0.3 * torch.randn_like(parameter))
    model.eval()
    images = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model(images)
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(out / "timm_vit.safetensors"))
    golden = {
        "source": "scripts/golden_timm_vit.py (timm %s, torch %s)" % (timm.__version__, torch.__version__),
        "shape": list(images.shape),
        "images": images.flatten().tolist(),
        "logits": logits.tolist(),
    }
    (out / "timm_vit.json").write_text(json.dumps(golden))
    print("wrote", len(state), "tensors;", "logits[0] =", [round(v, 5) for v in logits[0].tolist()])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
