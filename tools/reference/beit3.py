"""BEiT-3 retrieval model (BEiT3ForRetrieval) as a dual encoder, written from
shared/spec/beit3.md (sections 1-3).

The torch.nn modules are named exactly like the official torchscale v0.2.0 /
unilm beit3 ones, so ``BEiT3ForRetrieval(cfg).state_dict()`` has exactly the
official keys, in the official order (spec 3.2: 8 + 40*L + 4 + 2 entries; 494
for base, 974 for large), and an official checkpoint loads with a strict
``load_state_dict``.

Only the dual-encoder paths are implemented: image only (branch A everywhere)
and text only (branch B everywhere). Dropout and drop-path are absent (identity
at inference). The model runs in whatever dtype its parameters have:
``model.float()`` for training, ``model.double()`` for golden values. Unlike
the official code, GELU and softmax are computed in the parameter dtype (the
official code upcasts them to float32, which matters only under fp16).

Dependencies: torch only (tested with Debian's python3-torch 1.13).

Usage::

    import sys; sys.path.insert(0, "tools/reference")
    import beit3
    model, cfg = beit3.load_official("model.pth")          # float32, eval mode
    img = model.encode_image(pixels)                        # [B, D], unit rows
    txt = model.encode_text(ids, padding_mask=mask)         # [B, D], unit rows
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BEiT3Config",
    "BEiT3ForRetrieval",
    "extract_state_dict",
    "infer_config",
    "interpolate_pos_embed",
    "load_official",
    "expected_shapes",
]

POS_KEY_A = "beit3.encoder.embed_positions.A.weight"
POS_KEY_B = "beit3.encoder.embed_positions.B.weight"


@dataclasses.dataclass
class BEiT3Config:
    """Architecture of a BEiT3ForRetrieval model (spec section 1)."""

    dim: int = 768
    layers: int = 12
    heads: int = 12
    ffn_dim: int = 3072
    img_size: int = 384
    patch_size: int = 16
    in_chans: int = 3
    vocab_size: int = 64010
    text_positions: int = 1024
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid * self.grid

    @property
    def vision_positions(self) -> int:
        """Rows of embed_positions.A: patches + CLS + 2 fairseq offset rows."""
        return self.num_patches + 3

    def validate(self) -> None:
        if self.dim % self.heads != 0:
            raise ValueError(f"dim {self.dim} is not a multiple of heads {self.heads}")
        if self.img_size % self.patch_size != 0:
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")

    @classmethod
    def base(cls, img_size: int = 384) -> "BEiT3Config":
        return cls(dim=768, layers=12, heads=12, ffn_dim=3072, img_size=img_size)

    @classmethod
    def large(cls, img_size: int = 384) -> "BEiT3Config":
        return cls(dim=1024, layers=24, heads=16, ffn_dim=4096, img_size=img_size)


# ---------------------------------------------------------------------------
# Modules, named like torchscale's.


class MultiwayWrapper(nn.Module):
    """torchscale MultiwayWrapper: branch A (vision) and branch B (language).

    The branch is chosen once per call for the whole sequence: "A" for image
    only, "B" for text only (spec 2.0). Fusion mode is not implemented.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.A = module
        self.B = copy.deepcopy(module)

    def branch(self, which: str) -> nn.Module:
        if which == "A":
            return self.A
        if which == "B":
            return self.B
        raise ValueError(f"unknown multiway branch {which!r}")


class TextEmbedding(nn.Embedding):
    """Token table; no padding_idx (spec 2.2 step 1)."""


class PositionalEmbedding(nn.Embedding):
    """Learned positions; token t reads row t + 2 (spec 2.1 step 5, 2.2 step 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, T, D]
        positions = torch.arange(2, x.size(1) + 2, device=x.device)
        return F.embedding(positions, self.weight).unsqueeze(0)


class VisionEmbedding(nn.Module):
    """Patch conv + prepended CLS. mask_token is kept for the state_dict only."""

    def __init__(self, cfg: BEiT3Config):
        super().__init__()
        self.img_size = cfg.img_size
        self.patch_size = cfg.patch_size
        self.num_patches = cfg.num_patches
        self.proj = nn.Conv2d(cfg.in_chans, cfg.dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        # Registration order gives the official state_dict order:
        # mask_token, cls_token, proj.weight, proj.bias.
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        if h != self.img_size or w != self.img_size:
            raise ValueError(f"image is {h}x{w}, model expects {self.img_size}x{self.img_size}")
        x = self.proj(x).flatten(2).transpose(1, 2)  # [B, patches, D], row-major grid
        cls = self.cls_token.expand(b, -1, -1)
        return torch.cat((cls, x), dim=1)


class MultiheadAttention(nn.Module):
    """torchscale MultiheadAttention with subln (inner_attn_ln) and multiway."""

    def __init__(self, cfg: BEiT3Config):
        super().__init__()
        d = cfg.dim
        self.num_heads = cfg.heads
        self.head_dim = cfg.head_dim
        self.scaling = self.head_dim ** -0.5
        self.k_proj = MultiwayWrapper(nn.Linear(d, d, bias=True))
        self.v_proj = MultiwayWrapper(nn.Linear(d, d, bias=True))
        self.q_proj = MultiwayWrapper(nn.Linear(d, d, bias=True))
        self.out_proj = MultiwayWrapper(nn.Linear(d, d, bias=True))
        self.inner_attn_ln = MultiwayWrapper(nn.LayerNorm(d, eps=cfg.eps))

    def forward(self, x: torch.Tensor, branch: str, key_padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
        b, t, d = x.shape
        h, hd = self.num_heads, self.head_dim
        q = self.q_proj.branch(branch)(x) * self.scaling  # scale after the bias (spec trap 8)
        k = self.k_proj.branch(branch)(x)
        v = self.v_proj.branch(branch)(x)
        # head-major feature layout: head j owns columns [j*hd, (j+1)*hd)
        q = q.view(b, t, h, hd).transpose(1, 2)  # [B, H, T, hd]
        k = k.view(b, t, h, hd).transpose(1, 2)
        v = v.view(b, t, h, hd).transpose(1, 2)
        s = torch.matmul(q, k.transpose(-1, -2))  # [B, H, T, T]
        if key_padding_mask is not None:
            s = s.masked_fill(key_padding_mask[:, None, None, :].to(torch.bool), float("-inf"))
        p = torch.softmax(s, dim=-1)
        o = torch.matmul(p, v).transpose(1, 2).reshape(b, t, d)
        o = self.inner_attn_ln.branch(branch)(o)  # sub-LN before out_proj
        return self.out_proj.branch(branch)(o)


class FeedForwardNetwork(nn.Module):
    """fc1 -> erf GELU -> ffn_layernorm (sub-LN, size F) -> fc2."""

    def __init__(self, cfg: BEiT3Config):
        super().__init__()
        self.fc1 = nn.Linear(cfg.dim, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, cfg.dim)
        self.ffn_layernorm = nn.LayerNorm(cfg.ffn_dim, eps=cfg.eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.fc1(x))  # exact erf GELU
        x = self.ffn_layernorm(x)
        return self.fc2(x)


class EncoderLayer(nn.Module):
    """Pre-norm layer with sub-LN, alpha = 1 (spec 2.0 steps 1-14)."""

    def __init__(self, cfg: BEiT3Config):
        super().__init__()
        self.self_attn = MultiheadAttention(cfg)
        self.self_attn_layer_norm = MultiwayWrapper(nn.LayerNorm(cfg.dim, eps=cfg.eps))
        self.ffn = MultiwayWrapper(FeedForwardNetwork(cfg))
        self.final_layer_norm = MultiwayWrapper(nn.LayerNorm(cfg.dim, eps=cfg.eps))

    def forward(self, x: torch.Tensor, branch: str, key_padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = x + self.self_attn(self.self_attn_layer_norm.branch(branch)(x), branch, key_padding_mask)
        x = x + self.ffn.branch(branch)(self.final_layer_norm.branch(branch)(x))
        return x


class Encoder(nn.Module):
    def __init__(self, cfg: BEiT3Config):
        super().__init__()
        self.embed_positions = MultiwayWrapper(PositionalEmbedding(cfg.vision_positions, cfg.dim))
        self.embed_positions.B = PositionalEmbedding(cfg.text_positions, cfg.dim)
        self.layers = nn.ModuleList([EncoderLayer(cfg) for _ in range(cfg.layers)])
        self.layer_norm = MultiwayWrapper(nn.LayerNorm(cfg.dim, eps=cfg.eps))

    def forward(self, x: torch.Tensor, branch: str, padding_mask: Optional[torch.Tensor]) -> torch.Tensor:
        x = x + self.embed_positions.branch(branch)(x)  # no embed scale, no embedding LN
        if padding_mask is not None:
            # zero padded rows after adding positions (spec 2.2 step 3)
            x = x * (1 - padding_mask.unsqueeze(-1).type_as(x))
        for layer in self.layers:
            x = layer(x, branch, padding_mask)
        return self.layer_norm.branch(branch)(x)  # normalize_output=True


class BEiT3(nn.Module):
    def __init__(self, cfg: BEiT3Config):
        super().__init__()
        self.text_embed = TextEmbedding(cfg.vocab_size, cfg.dim)
        self.vision_embed = VisionEmbedding(cfg)
        self.encoder = Encoder(cfg)


class BEiT3ForRetrieval(nn.Module):
    """BEiT3ForRetrieval used as a dual encoder.

    state_dict order: logit_scale, beit3.*, language_head, vision_head (the
    official one: a module's own parameters precede its submodules').
    """

    def __init__(self, cfg: BEiT3Config, init: bool = True):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.beit3 = BEiT3(cfg)
        self.language_head = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.vision_head = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        if init:  # skipped when weights are about to be loaded (trunc_normal_ init is slow: tens of seconds for base)
            self.init_weights()

    @torch.no_grad()
    def init_weights(self, std: float = 0.02) -> None:
        """Official-style init: trunc-normal(0.02) Linear/Embedding/conv/CLS, LN 1/0."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.Embedding)):
                nn.init.trunc_normal_(m.weight, std=std)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.beit3.vision_embed.cls_token, std=std)
        nn.init.trunc_normal_(self.beit3.vision_embed.mask_token, std=std)
        self.logit_scale.fill_(math.log(1 / 0.07))

    def image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """CLS output through vision_head, before L2 normalisation: [B, D]."""
        x = self.beit3.vision_embed(pixel_values)
        x = self.beit3.encoder(x, "A", None)
        return self.vision_head(x[:, 0, :])

    def text_features(self, ids: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Output at index 0 (<s>) through language_head, before L2 normalisation: [B, D]."""
        x = self.beit3.text_embed(ids)
        if padding_mask is not None and not bool(padding_mask.any()):
            padding_mask = None  # all-false mask is a no-op; skip it
        x = self.beit3.encoder(x, "B", padding_mask)
        return self.language_head(x[:, 0, :])

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values [B, 3, S, S] (normalised to [-1, 1]) -> unit vectors [B, D]."""
        return F.normalize(self.image_features(pixel_values), dim=-1, eps=1e-12)

    def encode_text(self, ids: torch.Tensor, padding_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """ids [B, T] (long), padding_mask [B, T] with 1 = pad -> unit vectors [B, D]."""
        return F.normalize(self.text_features(ids, padding_mask), dim=-1, eps=1e-12)

    def forward(self, image=None, text_description=None, padding_mask=None):
        """Like the official forward(only_infer=True): (vision_cls, language_cls)."""
        v = self.encode_image(image) if image is not None else None
        t = self.encode_text(text_description, padding_mask) if text_description is not None else None
        return v, t


# ---------------------------------------------------------------------------
# Checkpoints.


def expected_shapes(cfg: BEiT3Config) -> Dict[str, Tuple[int, ...]]:
    """Official key -> shape, in state_dict order (built on the meta device)."""
    return {k: tuple(v.shape) for k, v in _build_meta(cfg).state_dict().items()}


def _build_meta(cfg: BEiT3Config) -> BEiT3ForRetrieval:
    """A model whose parameters live on the meta device (no memory, no init)."""
    orig = nn.Module.register_parameter

    def reg(self, name, param):
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.detach().to("meta"), requires_grad=param.requires_grad)
        return orig(self, name, param)

    nn.Module.register_parameter = reg
    try:
        m = BEiT3ForRetrieval.__new__(BEiT3ForRetrieval)
        nn.Module.__init__(m)
        cfg.validate()
        m.cfg = cfg
        m.beit3 = BEiT3(cfg)
        m.language_head = nn.Linear(cfg.dim, cfg.dim, bias=False)
        m.vision_head = nn.Linear(cfg.dim, cfg.dim, bias=False)
        m.logit_scale = nn.Parameter(torch.ones([], device="meta"))
    finally:
        nn.Module.register_parameter = orig
    return m


def extract_state_dict(obj) -> Dict[str, torch.Tensor]:
    """First of 'model', 'module' present, else the whole dict (spec 3.1)."""
    if isinstance(obj, dict):
        for key in ("model", "module"):
            if key in obj:
                return obj[key]
        return obj
    raise TypeError(f"checkpoint holds {type(obj).__name__}, want a dict")


def infer_config(sd: Dict[str, torch.Tensor], heads: Optional[int] = None, patch_size: int = 16) -> BEiT3Config:
    """Config from tensor shapes. Heads are not visible in shapes: default dim // 64."""
    dim = sd["beit3.text_embed.weight"].shape[1]
    layers = 0
    while f"beit3.encoder.layers.{layers}.ffn.A.fc1.weight" in sd:
        layers += 1
    ffn_dim = sd["beit3.encoder.layers.0.ffn.A.fc1.weight"].shape[0]
    patch_size = sd["beit3.vision_embed.proj.weight"].shape[-1]
    grid = int(math.isqrt(sd[POS_KEY_A].shape[0] - 3))
    return BEiT3Config(
        dim=dim,
        layers=layers,
        heads=heads if heads is not None else max(1, dim // 64),
        ffn_dim=ffn_dim,
        img_size=grid * patch_size,
        patch_size=patch_size,
        in_chans=sd["beit3.vision_embed.proj.weight"].shape[1],
        vocab_size=sd["beit3.text_embed.weight"].shape[0],
        text_positions=sd[POS_KEY_B].shape[0],
    )


def interpolate_pos_embed(state_dict: Dict[str, torch.Tensor], new_img_size: int, patch: int = 16,
                          keep_dtype: bool = True) -> Dict[str, torch.Tensor]:
    """Resize embed_positions.A to new_img_size (spec 3.3), in place; returns state_dict.

    The first 3 rows are kept; rows 3.. form a row-major [orig, orig] grid that
    is resized per channel with bicubic, align_corners=False. Computed in
    float64; cast back to the stored dtype when keep_dtype.
    """
    pos = state_dict[POS_KEY_A]
    num_extra = 3
    orig = int((pos.shape[0] - num_extra) ** 0.5)
    new = new_img_size // patch
    if orig == new:
        return state_dict
    d = pos.shape[-1]
    src = pos.detach().to(torch.float64)
    extra = src[:num_extra]
    grid = src[num_extra:num_extra + orig * orig].reshape(1, orig, orig, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new, new), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(new * new, d)
    out = torch.cat((extra, grid), dim=0)
    state_dict[POS_KEY_A] = out.to(pos.dtype) if keep_dtype else out
    return state_dict


def load_official(path: str, heads: Optional[int] = None, img_size: Optional[int] = None,
                  dtype: torch.dtype = torch.float32, cfg: Optional[BEiT3Config] = None,
                  strict: bool = False) -> Tuple[BEiT3ForRetrieval, BEiT3Config]:
    """torch.load a checkpoint, pick 'model'/'module'/bare, build the model, load it.

    Like the official loader, unexpected keys are ignored (an error when
    strict); missing or mis-shaped keys always raise RuntimeError.

    img_size resizes the vision position table when it differs (spec 3.3).
    Returns (model in eval mode with the given dtype, config).
    """
    obj = torch.load(path, map_location="cpu")
    sd = dict(extract_state_dict(obj))
    if cfg is None:
        cfg = infer_config(sd, heads=heads)
    if img_size is not None and img_size != cfg.img_size:
        interpolate_pos_embed(sd, img_size, cfg.patch_size, keep_dtype=False)
        cfg = dataclasses.replace(cfg, img_size=img_size)
    model = BEiT3ForRetrieval(cfg, init=False)
    wanted = model.state_dict()
    unexpected = [k for k in sd if k not in wanted]
    if strict and unexpected:
        raise KeyError(f"unexpected keys: {unexpected}")
    sd = {k: v.detach().to(dtype) for k, v in sd.items() if k in wanted}
    model = model.to(dtype)
    model.load_state_dict(sd, strict=True)  # missing or mis-shaped keys raise
    model.eval()
    return model, cfg
