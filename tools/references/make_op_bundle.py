#!/usr/bin/env python3
"""Op-level reference bundle against PyTorch (formats/reference-bundle.md).

Writes, into OUT_DIR (default Tests/Fixtures/references/bundles):
  ops.gguf             a tiny container (component `ops`) with linear / conv / norm weights in
                       F32, F16, Q8_0 and Q4_0, quantized with gguf.quants
  ops.safetensors      the bundle: inputs, PyTorch outputs, probes

Outputs of probes with non-f32 weights are computed from the *dequantized* weights
(gguf.quants.dequantize), so the probe measures our runtime, not the quantization error.
Seeded; re-running gives the same files.

    /work/venv/bin/python tools/references/make_op_bundle.py [OUT_DIR]
    nextgpt verify -m OUT_DIR/ops.gguf --reference OUT_DIR/ops.safetensors
"""

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bundle_lib import Bundle, TinyContainer, capture_modules, container_weights, load_container_weights  # noqa: E402

# Tolerances (rel_l2). References use the dequantized weights, so today every probe agrees to
# ~1e-7; the bounds leave room for what the matmul kernels may do to activations:
F32_TOL = 1e-5       # f32 weights (or none): only summation order differs
F16_TOL = 1e-3       # F16 weights: a kernel may round activations to f16 (~3e-4)
QUANT_TOL = 2e-2     # Q8_0/Q4_0 weights: the matmul kernels quantize activations to Q8_0 blocks,
                     # which alone gives rel_l2 ~5.7e-3 on Gaussian data (gguf.quants) and measured
                     # 4.6e-3 (ops) to 8.5e-3 (Llama down_proj, heavy-tailed inputs) through our kernels
TOLERANCE = {"F32": F32_TOL, "F16": F16_TOL, "Q8_0": QUANT_TOL, "Q4_0": QUANT_TOL}

C = "ops"


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "references", "bundles")
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng(20261123)
    torch.manual_seed(20261123)

    def randn(*shape, scale=1.0):
        return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))

    box = TinyContainer([C])
    b = Bundle()

    def weight(name, shape, qtype, scale=0.2):
        box.add(f"{C}.{name}", randn(*shape, scale=scale).numpy(), qtype)
        return f"{C}.{name}"

    def deq(name):
        return box.dequantized(name)

    # ---------------------------------------------------------------- linear
    for tag, qtype, out_f, in_f, xshape, bias in [
        ("f32", "F32", 19, 37, (3, 5, 37), True),
        ("f16", "F16", 21, 45, (7, 45), False),
        ("q8_0", "Q8_0", 23, 64, (4, 64), True),
        ("q4_0", "Q4_0", 17, 96, (2, 3, 96), False),
    ]:
        w = weight(f"linear_{tag}.weight", (out_f, in_f), qtype)
        bname = weight(f"linear_{tag}.bias", (out_f,), "F32") if bias else None
        x = randn(*xshape)
        y = F.linear(x, deq(w), deq(bname) if bname else None)
        args = {"weight": w} | ({"bias": bname} if bname else {})
        b.probe(f"linear_{tag}", C, "linear", args, {"x": x}, {"y": y}, TOLERANCE[qtype])

    # ---------------------------------------------------------------- convolutions
    convs = [
        # name, call, qtype, weight shape, bias, input shape, stride, padding, dilation, groups
        ("conv1d_f32", "conv1d", "F32", (6, 5, 3), True, (2, 5, 17), 1, 1, 1, 1),
        ("conv2d_f32_groups", "conv2d", "F32", (6, 2, 3, 3), True, (2, 4, 11, 9), 2, 1, 1, 2),
        ("conv2d_f32_dilated", "conv2d", "F32", (5, 3, 3, 2), False, (1, 3, 10, 13), [1, 2], [2, 0], [2, 1], 1),
        ("conv2d_f16", "conv2d", "F16", (7, 3, 3, 3), True, (2, 3, 8, 8), 1, 1, 1, 1),
        ("conv2d_q8_0", "conv2d", "Q8_0", (6, 32, 3, 3), True, (1, 32, 7, 9), 1, 1, 1, 1),
        ("conv3d_f32", "conv3d", "F32", (4, 3, 3, 3, 3), True, (1, 3, 5, 7, 6), [1, 2, 2], 1, 1, 1),
        ("conv3d_q4_0", "conv3d", "Q4_0", (5, 4, 2, 2, 2), False, (2, 4, 3, 5, 5), 1, [0, 1, 1], 1, 1),
    ]
    for name, call, qtype, wshape, bias, xshape, stride, padding, dilation, groups in convs:
        w = weight(f"{name}.weight", wshape, qtype)
        bname = weight(f"{name}.bias", (wshape[0],), "F32") if bias else None
        x = randn(*xshape)
        fn = {"conv1d": F.conv1d, "conv2d": F.conv2d, "conv3d": F.conv3d}[call]
        y = fn(x, deq(w), deq(bname) if bname else None, stride=stride, padding=padding, dilation=dilation, groups=groups)
        args = {"weight": w, "stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
        if bname:
            args["bias"] = bname
        b.probe(name, C, call, args, {"x": x}, {"y": y}, TOLERANCE[qtype])

    # ---------------------------------------------------------------- norms
    gn_w, gn_b = weight("gn.weight", (12,), "F32", 1.0), weight("gn.bias", (12,), "F32")
    x = randn(2, 12, 5, 7, scale=2.0) + 0.5
    b.probe("group_norm", C, "group_norm", {"num_groups": 4, "eps": 1e-5, "weight": gn_w, "bias": gn_b},
            {"x": x}, {"y": F.group_norm(x, 4, deq(gn_w), deq(gn_b), 1e-5)}, F32_TOL)
    gn3_w, gn3_b = weight("gn3.weight", (8,), "F32", 1.0), weight("gn3.bias", (8,), "F32")
    x = randn(1, 8, 3, 4, 5)
    b.probe("group_norm_video", C, "group_norm", {"num_groups": 2, "eps": 1e-6, "weight": gn3_w, "bias": gn3_b},
            {"x": x}, {"y": F.group_norm(x, 2, deq(gn3_w), deq(gn3_b), 1e-6)}, F32_TOL)
    x = randn(2, 6, 4, 4)
    b.probe("group_norm_plain", C, "group_norm", {"num_groups": 3, "eps": 1e-5},
            {"x": x}, {"y": F.group_norm(x, 3, None, None, 1e-5)}, F32_TOL)

    ln_w, ln_b = weight("ln.weight", (33,), "F32", 1.0), weight("ln.bias", (33,), "F32")
    x = randn(3, 7, 33, scale=3.0) - 1.0
    b.probe("layer_norm", C, "layer_norm", {"eps": 1e-5, "weight": ln_w, "bias": ln_b},
            {"x": x}, {"y": F.layer_norm(x, (33,), deq(ln_w), deq(ln_b), 1e-5)}, F32_TOL)
    ln2_w, ln2_b = weight("ln2.weight", (4, 5), "F32", 1.0), weight("ln2.bias", (4, 5), "F32")
    x = randn(2, 3, 4, 5)
    b.probe("layer_norm_2d", C, "layer_norm", {"eps": 1e-5, "weight": ln2_w, "bias": ln2_b, "normalized_dims": 2},
            {"x": x}, {"y": F.layer_norm(x, (4, 5), deq(ln2_w), deq(ln2_b), 1e-5)}, F32_TOL)
    x = randn(5, 10)
    b.probe("layer_norm_plain", C, "layer_norm", {"eps": 1e-6},
            {"x": x}, {"y": F.layer_norm(x, (10,), None, None, 1e-6)}, F32_TOL)

    rms_w = weight("rms.weight", (40,), "F32", 1.0)
    x = randn(2, 9, 40)
    b.probe("rms_norm", C, "rms_norm", {"eps": 1e-6, "weight": rms_w},
            {"x": x}, {"y": F.rms_norm(x, (40,), deq(rms_w), 1e-6)}, F32_TOL)

    # ---------------------------------------------------------------- attention
    q, k, v = randn(1, 3, 11, 16), randn(1, 3, 11, 16), randn(1, 3, 11, 16)
    b.probe("attention_causal", C, "attention", {"causal": True}, {"q": q, "k": k, "v": v},
            {"out": F.scaled_dot_product_attention(q, k, v, is_causal=True)}, F32_TOL)
    q, k, v = randn(2, 2, 7, 8), randn(2, 2, 13, 8), randn(2, 2, 13, 8)
    b.probe("attention_cross", C, "attention", {"causal": False, "scale": 0.3}, {"q": q, "k": k, "v": v},
            {"out": F.scaled_dot_product_attention(q, k, v, scale=0.3)}, F32_TOL)
    # KV-cache step: 3 new queries over 9 keys, the last query aligned with the last key.
    q, k, v = randn(1, 2, 3, 8), randn(1, 2, 9, 8), randn(1, 2, 9, 8)
    mask = torch.ones(3, 9, dtype=torch.bool).tril(diagonal=9 - 3)
    b.probe("attention_kv_cache", C, "attention", {"causal": "bottom_right"}, {"q": q, "k": k, "v": v},
            {"out": F.scaled_dot_product_attention(q, k, v, attn_mask=mask)}, F32_TOL)
    # Value head size differing from the key's.
    q, k, v = randn(1, 2, 4, 8), randn(1, 2, 6, 8), randn(1, 2, 6, 5)
    b.probe("attention_value_dim", C, "attention", {"causal": True}, {"q": q, "k": k, "v": v},
            {"out": F.scaled_dot_product_attention(q, k, v, is_causal=True)}, F32_TOL)
    q, k, v = randn(1, 4, 5, 8), randn(1, 2, 5, 8), randn(1, 2, 5, 8)
    b.probe("attention_gqa", C, "attention", {"causal": True}, {"q": q, "k": k, "v": v},
            {"out": F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)}, F32_TOL)
    # ---------------------------------------------------------------- pointwise
    x = randn(4, 27, scale=4.0)
    b.probe("softmax_last", C, "softmax", {"dim": -1}, {"x": x}, {"y": torch.softmax(x, -1)}, F32_TOL)
    x = randn(2, 5, 3, scale=4.0)
    b.probe("softmax_dim1", C, "softmax", {"dim": 1}, {"x": x}, {"y": torch.softmax(x, 1)}, F32_TOL)
    x = randn(3, 50, scale=3.0)
    b.probe("gelu", C, "gelu", {}, {"x": x}, {"y": F.gelu(x)}, F32_TOL)
    b.probe("gelu_tanh", C, "gelu", {"approximate": "tanh"}, {"x": "gelu.x"}, {"y": F.gelu(x, approximate="tanh")}, F32_TOL)
    x = randn(4, 33, scale=3.0)
    b.probe("silu", C, "silu", {}, {"x": x}, {"y": F.silu(x)}, F32_TOL)

    # ---------------------------------------------------------------- captured from a module tree
    # The path a real checkpoint takes (bundle_lib.capture_modules): hooks on a model's modules,
    # weight names = component + module path. Here the "model" is tiny and its weights go into the
    # container under the same names.
    net = torch.nn.Sequential(torch.nn.Linear(24, 40), torch.nn.LayerNorm(40), torch.nn.GELU(), torch.nn.Linear(40, 11))
    for key, value in net.state_dict().items():
        box.add(f"{C}.mlp.{key}", value.numpy(), "F32")
    x = randn(3, 24)
    with torch.no_grad():
        capture_modules(b, net, C, lambda: net(x), prefix=f"{C}.mlp", rel_l2=F32_TOL, name_prefix="mlp.")

    # ---------------------------------------------------------------- masks, causal alignment (added last,
    # so the probes above keep their random draws)
    # Additive float mask [B, 1, L, S] (broadcast over heads) with -inf entries; batch 1, row 2 fully
    # masked, which PyTorch answers with zeros.
    q, k, v = randn(2, 2, 5, 8), randn(2, 2, 7, 8), randn(2, 2, 7, 6)
    mask = randn(2, 1, 5, 7)
    mask[randn(2, 1, 5, 7) > 1.0] = float("-inf")
    mask[1, 0, 2, :] = float("-inf")
    b.probe("attention_float_mask", C, "attention", {}, {"q": q, "k": k, "v": v, "attn_mask": mask},
            {"out": F.scaled_dot_product_attention(q, k, v, attn_mask=mask)}, F32_TOL)
    # Boolean mask [H, L, S] (input attn_bool_mask, nonzero = attend; stored BOOL), grouped-query heads.
    q, k, v = randn(1, 4, 6, 8), randn(1, 2, 9, 8), randn(1, 2, 9, 8)
    allowed = torch.from_numpy(rng.standard_normal((4, 6, 9)) > -0.5)
    allowed[:, :, 0] = True
    b.tensors["attention_bool_mask.attn_bool_mask"] = allowed
    b.probe("attention_bool_mask", C, "attention", {}, {"q": q, "k": k, "v": v, "attn_bool_mask": "attention_bool_mask.attn_bool_mask"},
            {"out": F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, enable_gqa=True)}, F32_TOL)
    # Key padding [B, S] (nonzero = ignore) with causal bottom-right, as a padded KV-cache batch.
    q, k, v = randn(2, 2, 3, 8), randn(2, 2, 8, 8), randn(2, 2, 8, 8)
    padding = torch.zeros(2, 8, dtype=torch.bool)
    padding[0, :2] = True
    padding[1, 5] = True
    attend = torch.ones(3, 8, dtype=torch.bool).tril(diagonal=8 - 3)[None, None] & ~padding[:, None, None, :]
    b.probe("attention_key_padding", C, "attention", {"causal": "bottom_right"},
            {"q": q, "k": k, "v": v, "key_padding_mask": padding.float()},
            {"out": F.scaled_dot_product_attention(q, k, v, attn_mask=attend)}, F32_TOL)
    # Causal top-left (torch is_causal) with L < S and L > S.
    q, k, v = randn(1, 2, 4, 8), randn(1, 2, 10, 8), randn(1, 2, 10, 8)
    b.probe("attention_top_left_short", C, "attention", {"causal": "top_left"}, {"q": q, "k": k, "v": v},
            {"out": F.scaled_dot_product_attention(q, k, v, is_causal=True)}, F32_TOL)
    q, k, v = randn(1, 2, 10, 8), randn(1, 2, 4, 8), randn(1, 2, 4, 3)
    b.probe("attention_top_left_long", C, "attention", {"causal": True}, {"q": q, "k": k, "v": v},
            {"out": F.scaled_dot_product_attention(q, k, v, is_causal=True)}, F32_TOL)
    # Causal bottom-right with L > S: the first L - S queries see no key and give zeros.
    attend = torch.ones(10, 4, dtype=torch.bool).tril(diagonal=4 - 10)
    b.probe("attention_bottom_right_long", C, "attention", {"causal": "bottom_right"}, {"q": q, "k": k, "v": v},
            {"out": F.scaled_dot_product_attention(q, k, v, attn_mask=attend)}, F32_TOL)

    # ---------------------------------------------------------------- transposed convolution
    for name, qtype, wshape, bias, xshape, stride, padding, output_padding, groups, dilation in [
        ("conv_transpose1d_f32", "F32", (6, 4, 16), True, (1, 6, 17), 5, 5, 0, 1, 1),
        ("conv_transpose1d_groups", "F32", (6, 2, 4), True, (2, 6, 9), 3, 2, 2, 3, 2),
        ("conv_transpose1d_f16_depthwise", "F16", (4, 1, 5), False, (1, 4, 12), 2, 1, 1, 4, 1),
    ]:
        w = weight(f"{name}.weight", wshape, qtype)
        bname = weight(f"{name}.bias", (wshape[1] * groups,), "F32") if bias else None
        x = randn(*xshape)
        a = {"stride": stride, "padding": padding, "output_padding": output_padding, "groups": groups, "dilation": dilation}
        y = F.conv_transpose1d(x, deq(w), deq(bname) if bname else None, **a)
        b.probe(name, C, "conv_transpose1d", {"weight": w} | ({"bias": bname} if bname else {}) | a, {"x": x}, {"y": y},
                TOLERANCE[qtype])

    container = os.path.join(out_dir, "ops.gguf")
    bundle = os.path.join(out_dir, "ops.safetensors")
    box.write(container, name="op-level reference weights")
    b.save(bundle, {"nextgpt.reference.generator": "tools/references/make_op_bundle.py",
                    "nextgpt.reference.torch": torch.__version__,
                    "nextgpt.reference.container": "ops.gguf"})
    # Self-check: the container reads back (gguf-py) into a fresh module as the weights we used.
    fresh = torch.nn.Sequential(torch.nn.Linear(24, 40), torch.nn.LayerNorm(40), torch.nn.GELU(), torch.nn.Linear(40, 11))
    loaded, missing = load_container_weights(fresh, container, f"{C}.mlp")
    assert sorted(loaded) == sorted(net.state_dict()) and not missing, (loaded, missing)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in net.state_dict().items())
    for name in ("ops.conv2d_q8_0.weight", "ops.conv3d_q4_0.weight", "ops.conv3d_f32.weight", "ops.linear_f16.weight"):
        got = container_weights(container, "ops")[name[len("ops."):]]
        assert torch.equal(got, deq(name)), name
    print(f"{container}: {os.path.getsize(container)} bytes, {len(box.entries)} tensors")
    print(f"{bundle}: {os.path.getsize(bundle)} bytes, {len(b.probes)} probes, {len(b.tensors)} tensors")


if __name__ == "__main__":
    main()
