#!/usr/bin/env python3
"""Reference cases for the runtime ops (Sources/NextGPTKernels/Ops), computed with PyTorch.

Writes Tests/Fixtures/references/op-cases.safetensors: for every case `<case>.<name>` f32 tensors
(inputs, parameters, `<case>.expect` outputs) and, in the safetensors `__metadata__`, one JSON
string per case with its scalar arguments. Sizes are small and odd on purpose.

    /work/venv/bin/python tools/references/op_cases.py
"""
import json
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(20261123)
torch.set_num_threads(1)
tensors = {}
meta = {}


def case(name, args=None, **ts):
    assert name not in meta, name
    meta[name] = json.dumps(args or {})
    for key, t in ts.items():
        tensors[f"{name}.{key}"] = t.detach().to(torch.float32).contiguous().clone()


def rn(*shape, scale=1.0):
    return torch.randn(*shape) * scale


# ---- embedding -------------------------------------------------------------------------------
w = rn(11, 64)
ids = torch.tensor([3, 0, 10, 3, 7])
case("embedding", {}, weight=w, ids=ids.float(), expect=F.embedding(ids, w))

# ---- RMSNorm (HF LlamaRMSNorm) --------------------------------------------------------------
from transformers.models.llama.modeling_llama import LlamaRMSNorm, apply_rotary_pos_emb, LlamaRotaryEmbedding
from transformers import LlamaConfig

for name, shape, eps in [("rms_norm", (3, 5, 37), 1e-6), ("rms_norm_wide", (2, 131), 1e-5)]:
    x = rn(*shape, scale=2.0)
    m = LlamaRMSNorm(shape[-1], eps=eps)
    with torch.no_grad():
        m.weight.copy_(rn(shape[-1]) * 0.5 + 1)
        y = m(x)
    assert torch.allclose(y, F.rms_norm(x, (shape[-1],), m.weight, eps), atol=1e-5)
    case(name, {"eps": eps}, input=x, weight=m.weight, expect=y)

# ---- LayerNorm ---------------------------------------------------------------------------------
x = rn(4, 6, 33) * 3 + 1
w, b = rn(33), rn(33)
case("layer_norm_affine", {"eps": 1e-5}, input=x, weight=w, bias=b, expect=F.layer_norm(x, (33,), w, b, 1e-5))
x = rn(5, 129) + 4
case("layer_norm_plain", {"eps": 1e-6}, input=x, expect=F.layer_norm(x, (129,), None, None, 1e-6))

# ---- GroupNorm -------------------------------------------------------------------------------
x = rn(2, 12, 5, 7) * 2 + 0.5
w, b = rn(12), rn(12)
case("group_norm_2d", {"groups": 4, "eps": 1e-5}, input=x, weight=w, bias=b, expect=F.group_norm(x, 4, w, b, 1e-5))
x = rn(1, 8, 3, 5, 6)
w, b = rn(8), rn(8)
case("group_norm_3d", {"groups": 2, "eps": 1e-6}, input=x, weight=w, bias=b, expect=F.group_norm(x, 2, w, b, 1e-6))
x = rn(2, 6, 11)
case("group_norm_plain", {"groups": 3, "eps": 1e-5}, input=x, expect=F.group_norm(x, 3, None, None, 1e-5))

# ---- softmax -------------------------------------------------------------------------------
x = rn(3, 4, 29, scale=4.0)
case("softmax", {}, input=x, expect=F.softmax(x, dim=-1))
x = rn(2, 517, scale=10.0)
case("softmax_long", {}, input=x, expect=F.softmax(x, dim=-1))

# ---- activations ---------------------------------------------------------------------------
from transformers.activations import ACT2FN

x = rn(5, 41, scale=3.0)
case("silu", {}, input=x, expect=F.silu(x))
case("gelu_erf", {}, input=x, expect=F.gelu(x))
case("gelu_tanh", {}, input=x, expect=F.gelu(x, approximate="tanh"))
case("quick_gelu", {}, input=x, expect=ACT2FN["quick_gelu"](x))
case("relu", {}, input=x, expect=F.relu(x))
case("leaky_relu", {"slope": 0.1}, input=x, expect=F.leaky_relu(x, 0.1))
case("tanh", {}, input=x, expect=torch.tanh(x))

# ---- GEGLU (diffusers) ----------------------------------------------------------------------
from diffusers.models.activations import GEGLU

g = GEGLU(13, 11)
x = rn(2, 5, 13)
with torch.no_grad():
    case("geglu", {}, input=x, weight=g.proj.weight, bias=g.proj.bias, expect=g(x))

# ---- linear ---------------------------------------------------------------------------------
x = rn(3, 4, 19)
w, b = rn(23, 19), rn(23)
case("linear", {}, input=x, weight=w, bias=b, expect=F.linear(x, w, b))
x = rn(7, 64)
w = rn(5, 64)
case("linear_nobias", {}, input=x, weight=w, expect=F.linear(x, w))

# ---- RoPE (HF Llama, rotate-half) -----------------------------------------------------------
for name, T, hq, hkv, hd, theta, start in [("rope", 7, 3, 2, 10, 10000.0, 0), ("rope_offset", 5, 4, 4, 16, 10000.0, 1000)]:
    cfg = LlamaConfig(hidden_size=hq * hd, num_attention_heads=hq, num_key_value_heads=hkv, rope_theta=theta,
                      max_position_embeddings=4096, head_dim=hd)
    rot = LlamaRotaryEmbedding(cfg)
    pos = torch.arange(start, start + T)[None]
    q, k = rn(1, hq, T, hd), rn(1, hkv, T, hd)
    cos, sin = rot(q, pos)
    qe, ke = apply_rotary_pos_emb(q, k, cos, sin)
    # stored in the runtime layout [T, heads, head_dim]
    case(name, {"theta": theta, "start": start}, q=q[0].transpose(0, 1), k=k[0].transpose(0, 1),
         expect_q=qe[0].transpose(0, 1), expect_k=ke[0].transpose(0, 1))

# ---- attention -------------------------------------------------------------------------------
def sdpa(q, k, v, causal=False):
    """q [T, H, D], k/v [S, Hkv, D] (runtime layout) -> [T, H, D] through F.scaled_dot_product_attention."""
    qt, kt, vt = (t.transpose(0, 1)[None] for t in (q, k, v))
    out = F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal, enable_gqa=qt.shape[1] != kt.shape[1])
    return out[0].transpose(0, 1)


# (a) causal + KV cache, grouped-query: 5 tokens prefilled, then 3 new tokens (one step of 2, one of 1)
q, k, v = rn(8, 4, 16), rn(8, 2, 16), rn(8, 2, 16)
case("attn_causal_gqa", {"prefill": 5}, q=q, k=k, v=v, expect=sdpa(q, k, v, causal=True))
q, k, v = rn(6, 3, 8), rn(6, 3, 8), rn(6, 3, 8)
case("attn_causal_mha", {"prefill": 1}, q=q, k=k, v=v, expect=sdpa(q, k, v, causal=True))
# (b) full, tiled
q, k, v = rn(37, 3, 8), rn(37, 3, 8), rn(37, 3, 8)
case("attn_full", {}, q=q, k=k, v=v, expect=sdpa(q, k, v))
# (c) cross-attention
q, k, v = rn(19, 2, 24), rn(23, 2, 24), rn(23, 2, 24)
case("attn_cross", {}, q=q, k=k, v=v, expect=sdpa(q, k, v))
# 4096-token self-attention, small head dim
q, k, v = rn(4096, 1, 8), rn(4096, 1, 8), rn(4096, 1, 8)
case("attn_4096", {}, q=q, k=k, v=v, expect=sdpa(q, k, v))

# (d) nn.MultiheadAttention(add_bias_kv=True) on (L, B=1, E)
mha = torch.nn.MultiheadAttention(24, 3, bias=True, add_bias_kv=True)
with torch.no_grad():
    mha.bias_k.normal_(); mha.bias_v.normal_(); mha.in_proj_bias.normal_(); mha.out_proj.bias.normal_()
    x = rn(9, 1, 24)
    y, _ = mha(x, x, x, need_weights=False)
    case("mha_bias_kv", {"heads": 3}, input=x[:, 0], in_proj_weight=mha.in_proj_weight, in_proj_bias=mha.in_proj_bias,
         out_proj_weight=mha.out_proj.weight, out_proj_bias=mha.out_proj.bias, bias_k=mha.bias_k[0, 0],
         bias_v=mha.bias_v[0, 0], expect=y[:, 0])
    # plain MHA, batch_first, cross (as nn.Transformer's decoder multihead attention)
    mha2 = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    mha2.in_proj_bias.normal_(); mha2.out_proj.bias.normal_()
    qx, mem = rn(1, 7, 16), rn(1, 5, 16)
    y, _ = mha2(qx, mem, mem, need_weights=False)
    case("mha_cross", {"heads": 4}, query=qx[0], memory=mem[0], in_proj_weight=mha2.in_proj_weight,
         in_proj_bias=mha2.in_proj_bias, out_proj_weight=mha2.out_proj.weight, out_proj_bias=mha2.out_proj.bias,
         expect=y[0])

# ---- convolution -----------------------------------------------------------------------------
x, w, b = rn(2, 6, 29), rn(8, 3, 5), rn(8)
a = dict(stride=2, padding=3, dilation=2, groups=2)
case("conv1d", a, input=x, weight=w, bias=b, expect=F.conv1d(x, w, b, **a))
x, w, b = rn(1, 64, 33), rn(32, 64, 7), rn(32)
a = dict(stride=1, padding=3, dilation=1, groups=1)
case("conv1d_same", a, input=x, weight=w, bias=b, expect=F.conv1d(x, w, b, **a))
x, w, b = rn(1, 6, 13, 11), rn(9, 2, 3, 4), rn(9)
a = dict(stride=[2, 1], padding=[1, 2], dilation=[1, 2], groups=3)
case("conv2d", a, input=x, weight=w, bias=b, expect=F.conv2d(x, w, b, **a))
x, w, b = rn(2, 5, 9, 7), rn(7, 5, 3, 3), rn(7)
a = dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1], groups=1)
case("conv2d_3x3", a, input=x, weight=w, bias=b, expect=F.conv2d(x, w, b, **a))
x, w, b = rn(1, 12, 5, 7), rn(10, 12, 1, 1), rn(10)
a = dict(stride=[1, 1], padding=[0, 0], dilation=[1, 1], groups=1)
case("conv2d_1x1", a, input=x, weight=w, bias=b, expect=F.conv2d(x, w, b, **a))
x, w = rn(1, 1, 26, 36), rn(12, 1, 16, 16)
a = dict(stride=[10, 10], padding=[0, 0], dilation=[1, 1], groups=1)
case("conv2d_patch", a, input=x, weight=w, expect=F.conv2d(x, w, None, **a))
x, w, b = rn(1, 4, 5, 9, 8), rn(6, 2, 3, 3, 2), rn(6)
a = dict(stride=[1, 2, 1], padding=[1, 1, 0], dilation=[2, 1, 1], groups=2)
case("conv3d", a, input=x, weight=w, bias=b, expect=F.conv3d(x, w, b, **a))
x, w, b = rn(1, 3, 4, 9, 7), rn(5, 3, 3, 1, 1), rn(5)
a = dict(stride=[1, 1, 1], padding=[1, 0, 0], dilation=[1, 1, 1], groups=1)
case("conv3d_temporal", a, input=x, weight=w, bias=b, expect=F.conv3d(x, w, b, **a))

# conv-transpose1d (HiFi-GAN upsampler: padding (k - u) // 2)
x, w, b = rn(1, 6, 17), rn(6, 4, 16), rn(4)
a = dict(stride=5, padding=5, output_padding=0)
case("conv_transpose1d", a, input=x, weight=w, bias=b, expect=F.conv_transpose1d(x, w, b, **a))
x, w, b = rn(2, 3, 11), rn(3, 5, 7), rn(5)
a = dict(stride=3, padding=2, output_padding=1)
case("conv_transpose1d_op", a, input=x, weight=w, bias=b, expect=F.conv_transpose1d(x, w, b, **a))

# ---- nearest upsampling ----------------------------------------------------------------------
x = rn(1, 3, 5, 7)
case("upsample_nearest_x2", {"scale": 2.0}, input=x, expect=F.interpolate(x, scale_factor=2.0, mode="nearest"))
x = rn(2, 2, 5, 4)
case("upsample_nearest_size", {"size": [9, 13]}, input=x, expect=F.interpolate(x, size=(9, 13), mode="nearest"))

# ---- shape ops -------------------------------------------------------------------------------
a, b2 = rn(2, 3, 5), rn(2, 4, 5)
case("cat", {"dim": 1}, a=a, b=b2, expect=torch.cat([a, b2], dim=1))
x = rn(3, 10, 7)
p0, p1, p2 = torch.split(x, [3, 5, 2], dim=1)
case("split", {"dim": 1, "sizes": [3, 5, 2]}, input=x, expect0=p0, expect1=p1, expect2=p2)
c = torch.chunk(rn(4, 11), 2, dim=-1)
x = torch.cat(c, dim=-1)
case("chunk", {"dim": 1, "chunks": 2}, input=x, expect0=c[0], expect1=c[1])
x = rn(2, 3, 4, 5)
case("permute", {"dims": [0, 2, 3, 1]}, input=x, expect=x.permute(0, 2, 3, 1))
case("transpose", {"dim0": 1, "dim1": 3}, input=x, expect=x.transpose(1, 3))

# ---- diffusers get_timestep_embedding --------------------------------------------------------
from diffusers.models.embeddings import get_timestep_embedding

t = torch.tensor([0.0, 1.0, 250.0, 999.0, 17.0])
a = dict(embedding_dim=320, flip_sin_to_cos=True, downscale_freq_shift=0, scale=1.0, max_period=10000)
case("timestep_embedding", a, timesteps=t, expect=get_timestep_embedding(t, **a))
a = dict(embedding_dim=33, flip_sin_to_cos=False, downscale_freq_shift=1, scale=2.0, max_period=1000)
case("timestep_embedding_odd", a, timesteps=t, expect=get_timestep_embedding(t, **a))

# ---- added later (at the end so the earlier cases keep their random draws) ----------------------
# (e) masks, value head size, causal alignment. The runtime layout [T, H, D]; masks in PyTorch's
# [H, L, S] / [S] layout. SDPA through the math path on [1, H, L, D].
def sdpa_masked(q, k, v, attn_mask=None, causal=False):
    qt, kt, vt = (t.transpose(0, 1)[None] for t in (q, k, v))
    out = F.scaled_dot_product_attention(qt, kt, vt, attn_mask=attn_mask, is_causal=causal,
                                         enable_gqa=qt.shape[1] != kt.shape[1])
    return out[0].transpose(0, 1)


# additive float mask per head with -inf entries, one query row fully masked in head 1 (PyTorch: zeros),
# grouped-query heads, value head size 6 != key head size 8
q, k, v = rn(13, 4, 8), rn(17, 2, 8), rn(17, 2, 6)
mask = rn(4, 13, 17)
mask[rn(4, 13, 17) > 0.8] = float("-inf")
mask[1, 5, :] = float("-inf")
case("attn_float_mask", {}, q=q, k=k, v=v, mask=mask, expect=sdpa_masked(q, k, v, attn_mask=mask))
# a [L, S] mask broadcast over heads, plus key padding (keys 3, 4 and 15 ignored), causal bottom-right
q, k, v = rn(9, 2, 8), rn(16, 2, 8), rn(16, 2, 8)
mask = rn(9, 16)
padding = torch.zeros(16, dtype=torch.bool)
padding[[3, 4, 15]] = True
allowed = torch.ones(9, 16, dtype=torch.bool).tril(diagonal=16 - 9) & ~padding[None, :]
bias = mask.masked_fill(~allowed, float("-inf"))
case("attn_padding", {}, q=q, k=k, v=v, mask=mask, padding=padding.float(), expect=sdpa_masked(q, k, v, attn_mask=bias))
# causal top-left (torch is_causal) with fewer and with more queries than keys
q, k, v = rn(6, 2, 8), rn(11, 2, 8), rn(11, 2, 5)
case("attn_top_left_short", {}, q=q, k=k, v=v, expect=sdpa_masked(q, k, v, causal=True))
q, k, v = rn(11, 2, 8), rn(6, 2, 8), rn(6, 2, 8)
case("attn_top_left_long", {}, q=q, k=k, v=v, expect=sdpa_masked(q, k, v, causal=True))
# causal bottom-right with more queries than keys: the first 5 rows see no key (PyTorch: zeros)
allowed = torch.ones(11, 6, dtype=torch.bool).tril(diagonal=6 - 11)
case("attn_bottom_right_long", {}, q=q, k=k, v=v, expect=sdpa_masked(q, k, v, attn_mask=allowed))

# conv-transpose1d with groups and dilation
x, w, b = rn(2, 6, 9), rn(6, 2, 4), rn(6)
a = dict(stride=3, padding=2, output_padding=2, groups=3, dilation=2)
case("conv_transpose1d_groups", a, input=x, weight=w, bias=b, expect=F.conv_transpose1d(x, w, b, **a))
x, w = rn(1, 4, 7), rn(4, 3, 3)
a = dict(stride=1, padding=0, output_padding=0, groups=2, dilation=3)
case("conv_transpose1d_dilated", a, input=x, weight=w, expect=F.conv_transpose1d(x, w, None, **a))

out = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "references", "op-cases.safetensors")
out = os.path.normpath(out)
save_file(tensors, out, metadata=meta)
print(f"{len(meta)} cases, {len(tensors)} tensors, {os.path.getsize(out)} bytes -> {out}")
