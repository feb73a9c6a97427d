#!/usr/bin/env python3
"""Reference cases for the diffusion schedulers and torch's CPU random normals.

Writes
  Tests/Fixtures/references/schedulers.safetensors: per case `<case>.<name>` f32 tensors
    (timesteps, sigmas, init_noise_sigma, alphas_cumprod, sample0, and per step i model_output.i,
    scaled.i, prev.i; img2img cases img2img_timesteps, noised) and, in `__metadata__`, one JSON
    string per case {config, override, steps, eta, noise_seed, strength}.
  Tests/Fixtures/references/torch-randn.safetensors: `<seed>.<sequence>.<call>` = the float32
    tensors of consecutive torch.randn calls on one torch.Generator; metadata `cases` lists them.

    /work/venv/bin/python tools/references/make_scheduler_cases.py
"""
import json
import os

import torch
from safetensors.torch import save_file
from diffusers import (DDIMScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler,
                       PNDMScheduler)

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "references")
CLASSES = {c.__name__: c for c in (PNDMScheduler, DDIMScheduler, EulerDiscreteScheduler,
                                   EulerAncestralDiscreteScheduler)}

SD15 = json.load(open(os.path.join(ROOT, "Tests", "Fixtures", "sd15", "scheduler", "scheduler_config.json")))
SHAPE = (1, 4, 5, 6)

tensors, meta = {}, {}


def put(case, name, t):
    tensors[f"{case}.{name}"] = torch.as_tensor(t).detach().to(torch.float32).reshape(-1).contiguous().clone() \
        if torch.as_tensor(t).dim() == 0 else torch.as_tensor(t).detach().to(torch.float32).contiguous().clone()


def scheduler_case(name, config, override=None, steps=10, eta=0.0, rollout=None, strength=None):
    source = CLASSES[config.get("_class_name", "PNDMScheduler")].from_config(config)
    sched = CLASSES[override].from_config(source.config) if override else source
    sched.set_timesteps(steps)
    meta[name] = json.dumps({"config": config, "override": override, "steps": steps, "eta": eta,
                             "noise_seed": 1234, "strength": strength})
    put(name, "timesteps", sched.timesteps.to(torch.float64))
    if hasattr(sched, "sigmas"):
        put(name, "sigmas", sched.sigmas)
    put(name, "init_noise_sigma", torch.tensor(float(sched.init_noise_sigma)))
    put(name, "alphas_cumprod", sched.alphas_cumprod)
    data = torch.Generator().manual_seed(99)
    noise_gen = torch.Generator().manual_seed(1234)
    if strength is not None:
        # diffusers' img2img: get_timesteps, then add_noise at the first remaining timestep.
        init_timestep = min(int(steps * strength), steps)
        t_start = max(steps - init_timestep, 0)
        timesteps = sched.timesteps[t_start * sched.order:]
        if hasattr(sched, "set_begin_index"):
            sched.set_begin_index(t_start * sched.order)
        image = torch.randn(SHAPE, generator=data)
        noise = torch.randn(SHAPE, generator=data)
        put(name, "image", image)
        put(name, "noise", noise)
        put(name, "img2img_timesteps", timesteps.to(torch.float64))
        put(name, "noised", sched.add_noise(image, noise, timesteps[:1]))
        sample = torch.randn(SHAPE, generator=data)
    else:
        timesteps = sched.timesteps
        sample = torch.randn(SHAPE, generator=data) * sched.init_noise_sigma
    put(name, "sample0", sample)
    count = len(timesteps) if rollout is None else min(rollout, len(timesteps))
    for i, t in enumerate(timesteps[:count]):
        scaled = sched.scale_model_input(sample, t)
        out = torch.randn(SHAPE, generator=data)
        kwargs = {"generator": noise_gen}
        if isinstance(sched, DDIMScheduler):
            kwargs["eta"] = eta
        if isinstance(sched, PNDMScheduler):
            kwargs = {}
        sample = sched.step(out, t, sample, **kwargs).prev_sample
        put(name, f"model_output.{i}", out)
        put(name, f"scaled.{i}", scaled)
        put(name, f"prev.{i}", sample)
    meta[name] = json.dumps({**json.loads(meta[name]), "rollout": count})


scheduler_case("pndm_sd15", SD15, steps=10)
scheduler_case("pndm_sd15_50", SD15, steps=50, rollout=6)
scheduler_case("pndm_prk", {**SD15, "skip_prk_steps": False}, steps=6)
scheduler_case("pndm_linspace_v", {**SD15, "timestep_spacing": "linspace", "prediction_type": "v_prediction"}, steps=7)
scheduler_case("pndm_trailing_cos", {**SD15, "timestep_spacing": "trailing", "beta_schedule": "squaredcos_cap_v2"}, steps=7)
scheduler_case("ddim_sd15", SD15, override="DDIMScheduler", steps=10)
scheduler_case("ddim_eta", SD15, override="DDIMScheduler", steps=8, eta=0.7)
scheduler_case("ddim_own_defaults", {"_class_name": "DDIMScheduler", "beta_schedule": "linear"}, steps=6, eta=1.0)
scheduler_case("ddim_zero_snr_trailing_v", {"_class_name": "DDIMScheduler", "beta_schedule": "scaled_linear",
               "beta_start": 0.00085, "beta_end": 0.012, "timestep_spacing": "trailing",
               "prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "clip_sample": False,
               "set_alpha_to_one": False}, steps=7)
scheduler_case("ddim_sample_linspace", {**SD15, "_class_name": "DDIMScheduler", "prediction_type": "sample",
               "timestep_spacing": "linspace", "clip_sample": True}, steps=9)
scheduler_case("euler_sd15", SD15, override="EulerDiscreteScheduler", steps=10)
scheduler_case("euler_linspace", {**SD15, "_class_name": "EulerDiscreteScheduler", "timestep_spacing": "linspace"}, steps=9)
scheduler_case("euler_trailing_v", {**SD15, "_class_name": "EulerDiscreteScheduler", "timestep_spacing": "trailing",
               "prediction_type": "v_prediction"}, steps=7)
scheduler_case("euler_a_sd15", SD15, override="EulerAncestralDiscreteScheduler", steps=10)
scheduler_case("euler_a_linspace", {**SD15, "_class_name": "EulerAncestralDiscreteScheduler", "timestep_spacing": "linspace"}, steps=9)
scheduler_case("img2img_pndm", SD15, steps=10, strength=0.6)
scheduler_case("img2img_euler", {**SD15, "_class_name": "EulerDiscreteScheduler", "timestep_spacing": "linspace"}, steps=10, strength=0.75)
scheduler_case("img2img_ddim", SD15, override="DDIMScheduler", steps=10, strength=0.5)

os.makedirs(OUT, exist_ok=True)
save_file(tensors, os.path.join(OUT, "schedulers.safetensors"), metadata=meta)

# ---- torch.randn streams -------------------------------------------------------------------------
SEQUENCES = {
    "single1": [[1]] * 3, "single7": [[7]] * 3, "single15": [[15]] * 3, "single16": [[16]] * 3,
    "single17": [[17]] * 3, "single33": [[33]] * 3, "latents": [[1, 4, 64, 64]] * 3,
    "odd": [[2, 4, 9, 7]] * 3, "mixed": [[7], [33], [1], [15], [16], [3]],
}
SEEDS = [0, 1, 42, 2**32 + 5]
randn, cases = {}, []
for seed in SEEDS:
    for seq, shapes in SEQUENCES.items():
        g = torch.Generator("cpu").manual_seed(seed)
        for call, shape in enumerate(shapes):
            randn[f"{seed}.{seq}.{call}"] = torch.randn(shape, generator=g, dtype=torch.float32).contiguous()
        cases.append({"seed": seed, "sequence": seq, "shapes": shapes})
save_file(randn, os.path.join(OUT, "torch-randn.safetensors"), metadata={"cases": json.dumps(cases)})
print(len(tensors), "scheduler tensors,", len(randn), "randn tensors")
