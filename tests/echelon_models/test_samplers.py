"""One contract for every sampler, checked against the exact denoiser of a Gaussian target.

For data x_0 ~ N(μ, σ²) the best possible model is known in closed form, and so is the end
point of the deterministic (probability-flow) sampler for a given start noise. That separates
a sampler's own error from any model's.
"""

import math

import pytest
import torch

from echelon_models.diffusion import (DDIMSampler, DDPMSampler, DPMSolverSampler, EulerSampler,
                                      HeunSampler, NoiseSchedule, SamplerOutput, sample)

MU, SIGMA = 1.5, 0.5


def exact_diffusion(schedule: NoiseSchedule):
    def denoise(x, t):
        a = float(schedule.alpha_bar(int(t.reshape(-1)[0].round())))
        x0 = MU + math.sqrt(a) * SIGMA ** 2 / (a * SIGMA ** 2 + 1 - a) * (x - math.sqrt(a) * MU)
        eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        if schedule.prediction == "v":
            return math.sqrt(a) * eps - math.sqrt(1 - a) * x0
        return eps
    return denoise


def exact_flow(x, t):
    t = float(t.reshape(-1)[0]) / 1000.0
    var = (1 - t) ** 2 * SIGMA ** 2 + t ** 2
    centred = x - (1 - t) * MU
    return t / var * centred - (MU + (1 - t) * SIGMA ** 2 / var * centred)  # E[ε] − E[x0]


def ode_end_point(noise, schedule: NoiseSchedule | None):
    """Where the exact probability-flow ODE takes `noise` (standardised value is preserved)."""
    if schedule is None:  # flow matching: x_1 = ε
        return MU + SIGMA * noise
    a = float(schedule.alpha_bar(schedule.steps - 1))
    return MU + SIGMA * (noise - math.sqrt(a) * MU) / math.sqrt(a * SIGMA ** 2 + 1 - a)


def make(name: str, prediction: str = "epsilon", kind: str = "cosine"):
    schedule = NoiseSchedule(kind, 1000, "v" if prediction == "v" else "epsilon")
    sampler = {"ddpm": lambda: DDPMSampler(schedule), "ddim": lambda: DDIMSampler(schedule),
               "dpm_solver": lambda: DPMSolverSampler(schedule), "euler": EulerSampler,
               "heun": HeunSampler}[name]()
    flow = name in ("euler", "heun")
    return sampler, (exact_flow if flow else exact_diffusion(schedule)), (None if flow else schedule)


ALL = ["ddpm", "ddim", "dpm_solver", "euler", "heun"]


@pytest.mark.parametrize("name", ALL)
def test_sampler_contract(name):
    sampler, denoise, _ = make(name)
    sampler.set_timesteps(10)
    times = sampler.timesteps
    assert len(times) >= 10 and all(float(a) >= float(b) for a, b in zip(times, times[1:]))
    x = torch.randn(3, 4, 7, generator=torch.Generator().manual_seed(0))
    calls = 0
    for t in times:
        out = sampler.step(denoise(x, sampler.model_time(t).reshape(1)), t, x,
                           torch.Generator().manual_seed(1))
        calls += 1
        assert isinstance(out, SamplerOutput)
        assert out.prev_sample.shape == x.shape and out.prev_sample.dtype == x.dtype
        assert out.pred_original_sample.shape == x.shape
        x = out.prev_sample
    assert calls == len(times)
    assert torch.isfinite(x).all()


@pytest.mark.parametrize("name, steps, prediction", [
    (name, steps, prediction)
    for name, steps in (("ddpm", 1000), ("ddim", 50), ("dpm_solver", 20))
    for prediction in ("epsilon", "v")
] + [("euler", 100, "velocity"), ("heun", 20, "velocity")])
def test_samplers_reach_the_target_distribution(name, steps, prediction):
    sampler, denoise, _ = make(name, prediction)
    sampler.set_timesteps(steps)
    noise = torch.randn(4000, 1, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = sample(denoise, sampler, noise, torch.Generator().manual_seed(1))
    assert abs(float(out.mean()) - MU) < 0.03 and abs(float(out.std()) - SIGMA) < 0.03


def test_ddim_eta_zero_is_deterministic():
    sampler, denoise, _ = make("ddim")
    noise = torch.randn(8, 2, 5, generator=torch.Generator().manual_seed(0))
    a = sample(denoise, sampler, noise, torch.Generator().manual_seed(1))
    b = sample(denoise, sampler, noise, torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    noisy = DDIMSampler(sampler.schedule, eta=1.0)
    c = sample(denoise, noisy, noise, torch.Generator().manual_seed(1))
    d = sample(denoise, noisy, noise, torch.Generator().manual_seed(2))
    assert not torch.equal(c, d)


def test_ddpm_and_ddim_agree_in_the_limit_of_many_steps():
    noise = torch.randn(4000, 1, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    results = {}
    for name in ("ddpm", "ddim"):
        sampler, denoise, _ = make(name, kind="linear")
        sampler.set_timesteps(1000)
        out = sample(denoise, sampler, noise, torch.Generator().manual_seed(4))
        results[name] = (float(out.mean()), float(out.std()))
    (m1, s1), (m2, s2) = results["ddpm"], results["ddim"]
    assert abs(m1 - m2) < 0.03 and abs(s1 - s2) < 0.03
    assert abs(m2 - MU) < 0.03 and abs(s2 - SIGMA) < 0.03


def test_dpm_solver_20_is_at_least_as_close_as_ddim_50():
    noise = torch.randn(2000, 1, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    errors = {}
    for name, steps in (("ddim", 50), ("dpm_solver", 20)):
        sampler, denoise, schedule = make(name)
        sampler.set_timesteps(steps)
        out = sample(denoise, sampler, noise)
        errors[name] = float((out - ode_end_point(noise, schedule)).abs().mean())
    assert errors["dpm_solver"] <= errors["ddim"], errors


def test_heun_beats_euler_at_equal_model_calls():
    noise = torch.randn(2000, 1, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    errors = {}
    for name, steps in (("euler", 20), ("heun", 10)):  # 20 and 19 model calls
        sampler, denoise, _ = make(name)
        sampler.set_timesteps(steps)
        out = sample(denoise, sampler, noise)
        errors[name] = float((out - ode_end_point(noise, None)).abs().mean())
    assert errors["heun"] < errors["euler"], errors


def test_schedules():
    for kind in ("linear", "cosine"):
        a = NoiseSchedule(kind).alphas_cumprod
        assert len(a) == 1000 and bool((a[1:] < a[:-1]).all())
        assert float(a[0]) > 0.99 and float(a[-1]) < 0.01
    with pytest.raises(ValueError, match="unknown noise schedule"):
        NoiseSchedule("quadratic")
    with pytest.raises(ValueError, match="sampling steps"):
        DDIMSampler(NoiseSchedule(), steps=0)


@pytest.mark.parametrize("name", ALL)
def test_known_frames_are_kept_and_the_rest_is_sampled(name):
    """Inpainting: frames under the mask end at the given values, the others still follow the
    target distribution."""
    sampler, denoise, _ = make(name)
    sampler.set_timesteps(200 if name == "ddpm" else 20)  # DDPM needs many steps to be exact
    noise = torch.randn(2000, 1, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    known = torch.full_like(noise, 3.0)
    mask = torch.zeros(1, 1, 8, dtype=torch.float64)
    mask[..., :3] = 1.0
    fixed = torch.randn(noise.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = sample(denoise, sampler, noise, torch.Generator().manual_seed(1), known=known,
                 known_mask=mask, known_noise=fixed)
    kept = out[..., :3]  # the last step still sees a little noise: close, not exact
    assert abs(float(kept.mean()) - 3.0) < 0.1 and float(kept.std()) < 0.15  # vs μ = 1.5, σ = 0.5
    rest = out[..., 3:]
    assert abs(float(rest.mean()) - MU) < 0.05 and abs(float(rest.std()) - SIGMA) < 0.05


@pytest.mark.parametrize("name", ALL)
def test_a_partial_start_keeps_more_of_the_reference_the_lower_the_strength(name):
    """SDEdit: start from a reference noised part of the way; strength 1 forgets it."""
    ends = {}
    for strength in (0.2, 0.6, 1.0):
        sampler, denoise, _ = make(name)
        sampler.set_timesteps(20)
        start = sampler.start_index(strength)
        noise = torch.randn(2000, 1, 4, generator=torch.Generator().manual_seed(0),
                            dtype=torch.float64)
        x = sampler.noise_to(torch.full_like(noise, 3.0), noise, sampler.timesteps[start])
        ends[strength] = float(sample(denoise, sampler, x, torch.Generator().manual_seed(1),
                                      start=start).mean())
    assert 3.0 > ends[0.2] > ends[0.6] > ends[1.0]
    assert abs(ends[1.0] - MU) < 0.05
