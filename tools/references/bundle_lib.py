"""Building blocks for NExT-GPT reference bundles (formats/reference-bundle.md).

- `Bundle`: collect inputs, PyTorch outputs and probe descriptions; save one safetensors file
  whose __metadata__ key `nextgpt.reference` lists the probes.
- `capture_modules`: run a real PyTorch model once (on any device) with forward hooks on chosen
  nn.Linear / nn.Conv* / nn.GroupNorm / nn.LayerNorm / RMSNorm modules and turn every hooked call
  into a probe whose weights are named as `nextgpt convert` names them (`<component>.<module>.weight`).
- `load_container_weights`: load a module's weights *back from one of our containers*
  (dequantized), so references made with real checkpoints compare like for like with a
  quantized container.
- `TinyContainer`: write a small GGUF container in our format (formats/container.md) with the
  `gguf` package, for op-level tests without real checkpoints.
- `crc32c`: CRC-32C (Castagnoli), table-driven, no extra package.
"""

import json

import numpy as np
import torch

BUNDLE_VERSION = 1

# --------------------------------------------------------------------------------------- CRC-32C

_CRC32C_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC32C_TABLE.append(_c)


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C as SSE4.2's crc32 instruction: reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF."""
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the standard check value

# --------------------------------------------------------------------------------------- bundles


class Bundle:
    """Probes plus the tensors they name. Tensors are stored F32 (contiguous, CPU)."""

    def __init__(self):
        self.tensors = {}
        self.probes = []

    def tensor(self, name, value):
        """Adds a bundle tensor (torch or numpy) and returns its name."""
        if name in self.tensors:
            raise ValueError(f"duplicate bundle tensor {name}")
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        self.tensors[name] = value.detach().to("cpu", torch.float32).contiguous().clone()
        return name

    def probe(self, name, component, call, args, inputs, expect, rel_l2, max_abs=None, cosine=None, psnr=None):
        """`inputs` / `expect` map call parameter / output names to tensors (added as
        `<probe>.<param>`) or to names of tensors already in the bundle."""
        if any(p["name"] == name for p in self.probes):
            raise ValueError(f"duplicate probe {name}")

        def bind(mapping):
            out = {}
            for key, value in mapping.items():
                out[key] = value if isinstance(value, str) else self.tensor(f"{name}.{key}", value)
            return out

        tolerance = {"rel_l2": rel_l2}
        if max_abs is not None:
            tolerance["max_abs"] = max_abs
        if cosine is not None:
            tolerance["cosine"] = cosine
        if psnr is not None:
            tolerance["psnr"] = psnr
        self.probes.append({"name": name, "component": component, "call": call, "args": args,
                            "inputs": bind(inputs), "expect": bind(expect), "tolerance": tolerance})

    def metadata(self, extra=None):
        meta = {"nextgpt.reference": json.dumps({"version": BUNDLE_VERSION, "probes": self.probes}, indent=1)}
        meta.update(extra or {})
        return meta

    def save(self, path, extra_metadata=None):
        from safetensors.torch import save_file
        save_file(self.tensors, path, metadata=self.metadata(extra_metadata))


# ------------------------------------------------------------------------- capture from a model


def _conv_args(m):
    return {"stride": list(m.stride), "padding": list(m.padding), "dilation": list(m.dilation), "groups": m.groups}


def capture_modules(bundle, model, component, run, prefix=None, select=None, rel_l2=1e-3, name_prefix="", max_calls=1):
    """Hooks modules of `model`, calls `run()` (which must run `model` forward under
    torch.no_grad()), and records one probe per hooked module call (up to `max_calls` each).

    Weight names are `<prefix>.<module path>.weight` (prefix defaults to the component), the names
    `nextgpt convert` gives the same checkpoint's tensors when `model`'s state_dict keys are the
    upstream keys (check with `nextgpt inspect --tensors`). `select(name, module)` picks modules (default: all supported).
    `rel_l2` is a number or `rel_l2(name, module, call)` giving each probe's tolerance.
    Outputs are recorded in float32 whatever the model's dtype/device.
    """
    import torch.nn as nn

    calls = {}
    handles = []

    def describe(name, m):
        w = f"{prefix or component}.{name}.weight"
        b = f"{prefix or component}.{name}.bias" if getattr(m, "bias", None) is not None else None
        if isinstance(m, nn.Linear):
            return "linear", {"weight": w, "bias": b}
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                return None
            call = {nn.Conv1d: "conv1d", nn.Conv2d: "conv2d", nn.Conv3d: "conv3d"}[type(m)]
            return call, dict(weight=w, bias=b, **_conv_args(m))
        if isinstance(m, nn.GroupNorm):
            return "group_norm", {"num_groups": m.num_groups, "eps": m.eps,
                                  "weight": w if m.affine else None, "bias": b if m.affine else None}
        if isinstance(m, nn.LayerNorm):
            return "layer_norm", {"normalized_dims": len(m.normalized_shape), "eps": m.eps,
                                  "weight": w if m.weight is not None else None, "bias": b}
        if isinstance(m, nn.GELU):
            return "gelu", {"approximate": m.approximate}
        if isinstance(m, nn.SiLU):
            return "silu", {}
        if type(m).__name__ in ("LlamaRMSNorm", "RMSNorm"):
            eps = getattr(m, "variance_epsilon", None) or getattr(m, "eps", None) or 1e-6
            return "rms_norm", {"eps": float(eps), "weight": w}
        return None

    for name, m in model.named_modules():
        if not name or (select is not None and not select(name, m)):
            continue
        described = describe(name, m)
        if described is None:
            continue
        call, args = described
        args = {k: v for k, v in args.items() if v is not None}

        def hook(module, inputs, output, name=name, call=call, args=args):
            n = calls.get(name, 0)
            if n >= max_calls:
                return
            calls[name] = n + 1
            probe = f"{name_prefix}{name}" + (f"#{n}" if n else "")
            tolerance = rel_l2(name, module, call) if callable(rel_l2) else rel_l2
            bundle.probe(probe, component, call, args, {"x": inputs[0]}, {"y": output}, rel_l2=tolerance)

        handles.append(m.register_forward_hook(hook))
    try:
        run()
    finally:
        for h in handles:
            h.remove()
    return calls


def container_weights(container_path, prefix):
    """{key after `<prefix>.`: float32 torch tensor in PyTorch shape} for every tensor of a container
    under `prefix`, dequantized with gguf-py exactly as our reader decodes it."""
    import gguf
    reader = gguf.GGUFReader(container_path)
    orig = {}
    for name, field in reader.fields.items():
        if name.startswith("nextgpt.orig_shape."):
            orig[name[len("nextgpt.orig_shape."):]] = [int(v) for v in field.contents()]
    out = {}
    for t in reader.tensors:
        if not t.name.startswith(prefix + "."):
            continue
        shape = orig.get(t.name, [int(x) for x in reversed(t.shape)])
        data = np.asarray(t.data)
        if t.tensor_type.name not in ("F32", "F16", "F64", "I8", "I16", "I32", "I64"):
            data = gguf.quants.dequantize(data, t.tensor_type)
        out[t.name[len(prefix) + 1:]] = torch.from_numpy(np.array(data, dtype=np.float32).reshape(shape))
    return out


def load_container_weights(model, container_path, prefix):
    """Replaces `model`'s parameters and buffers by the container's (dequantized, cast to each
    parameter's dtype and device). `prefix` is the component (or component + module path) whose
    keys match `model.state_dict()`. Returns (loaded keys, model keys the container lacks)."""
    weights = container_weights(container_path, prefix)
    state = model.state_dict()
    loaded = []
    with torch.no_grad():
        for key, value in weights.items():
            if key in state:
                if tuple(state[key].shape) != tuple(value.shape):
                    raise ValueError(f"{prefix}.{key}: container shape {tuple(value.shape)}, model {tuple(state[key].shape)}")
                state[key].copy_(value.to(state[key].dtype))
                loaded.append(key)
    missing = [k for k in state if k not in weights]
    return loaded, missing


# --------------------------------------------------------------------------- tiny containers


class TinyContainer:
    """A small container in our format (GGUF v3, architecture nextgpt, alignment 64) written with
    the `gguf` package. Tensors are given in PyTorch shape; quantized ones are quantized with
    gguf.quants and `dequantized(name)` gives back exactly what a reader decodes."""

    def __init__(self, components):
        self.components = list(components)
        self.entries = []  # (name, stored array, ggml type, torch shape)

    def add(self, name, value, qtype="F32"):
        import gguf
        value = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        shape = list(value.shape)
        t = gguf.GGMLQuantizationType[qtype]
        if t in (gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0, gguf.GGMLQuantizationType.Q4_K):
            rows = value.reshape(shape[0], -1) if value.ndim > 1 else value.reshape(1, -1)
            stored = gguf.quants.quantize(rows, t)
        elif t == gguf.GGMLQuantizationType.F16:
            stored = value.astype(np.float16)
        elif t == gguf.GGMLQuantizationType.F32:
            stored = value
        else:
            raise ValueError(f"unsupported type {qtype}")
        if t == gguf.GGMLQuantizationType.F32 or t == gguf.GGMLQuantizationType.F16:
            if stored.ndim > 4:  # fold trailing dims into the fourth, as the converter does
                stored = stored.reshape(list(stored.shape[:3]) + [-1])
        self.entries.append((name, np.ascontiguousarray(stored), t, shape))
        return name

    def dequantized(self, name):
        import gguf
        for n, stored, t, shape in self.entries:
            if n == name:
                if t in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
                    return torch.from_numpy(stored.astype(np.float32).reshape(shape))
                return torch.from_numpy(gguf.quants.dequantize(stored, t).astype(np.float32).reshape(shape))
        raise KeyError(name)

    def write(self, path, name="reference ops"):
        import gguf
        w = gguf.GGUFWriter(path, "nextgpt")
        w.add_custom_alignment(64)
        w.add_name(name)
        w.add_uint32("nextgpt.format_version", 1)
        w.add_array("nextgpt.components", self.components)
        w.add_string("nextgpt.quantization.type", "mixed")
        if any(t not in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16) for _, _, t, _ in self.entries):
            w.add_quantization_version(2)
        for c in self.components:
            crcs = [crc32c(stored.tobytes()) for n, stored, _, _ in self.entries if n.startswith(c + ".")]
            w.add_string(f"{c}.source.format", "synthetic")
            w.add_key_value(f"{c}.tensor_crc32c", crcs, gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT32)
        for n, stored, t, shape in self.entries:
            stored_shape = self._stored_torch_shape(stored, t)
            if stored_shape != shape:
                w.add_key_value(f"nextgpt.orig_shape.{n}", shape, gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.INT64)
        for n, stored, t, shape in self.entries:
            if t in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
                w.add_tensor(n, stored)
            else:
                w.add_tensor(n, stored, raw_dtype=t)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    @staticmethod
    def _stored_torch_shape(stored, t):
        import gguf
        if t in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            return list(stored.shape)
        block, size = gguf.GGML_QUANT_SIZES[t]
        return list(stored.shape[:-1]) + [stored.shape[-1] // size * block]
