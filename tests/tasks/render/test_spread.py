"""A render cut into shards for several workers: the same audio as one worker, devices taken
in turn, and a checkpoint changed under a running render refused."""

import shutil
from pathlib import Path

import pytest
import torch

from storage.checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from storage.render_manifest import read_manifest
from tasks.config import RenderConfig, SamplerConfig
from tasks.models.builders import DIFFUSION_KIND
from tasks.render.models import load_render_models
from tasks.render.plan import find_performances
from tasks.render.run import render_performances, start_render
from tasks.render.spread import Checkpoints, cpu_threads, make_shards, render_shard

CONFIG = RenderConfig(chunk_s=1.0, overlap_s=0.25, batch_size=1,
                      sampler=SamplerConfig(kind="ddim", steps=4, guidance_scale=2.0))


def _good(folder: Path) -> list[Path]:
    return [p for p in find_performances(folder) if p.name.startswith("show_")]


def test_shards_render_what_the_whole_loop_renders(tiny_render_checkpoints, performance_folder,
                                                   tmp_path):
    models = load_render_models(*tiny_render_checkpoints, device="cpu")
    whole = render_performances(_good(performance_folder), tmp_path / "whole", models,
                                CONFIG.model_copy(update={"batch_size": 2}))
    plan = start_render(_good(performance_folder), tmp_path / "shards", models, CONFIG)
    shards = make_shards(plan, 1, ["cpu"])
    assert [len(s.jobs) for s in shards] == [1, 1] and {s.device for s in shards} == {"cpu"}
    checkpoints = Checkpoints(*map(str, tiny_render_checkpoints))
    records = [r for s in reversed(shards)  # in any order
               for r in render_shard(s, plan.out_dir, plan.length, plan.sampler, CONFIG,
                                     checkpoints)]
    assert sorted(r.performance for r in records) == sorted(whole.rendered)
    for record in records:
        assert (tmp_path / "shards" / record.wav).read_bytes() == \
            (tmp_path / "whole" / record.wav).read_bytes()
    assert read_manifest(plan.manifest) == []  # a shard leaves the manifest to its caller


def test_shards_take_the_devices_in_turn(tiny_render_checkpoints, performance_folder,
                                         tmp_path):
    models = load_render_models(*tiny_render_checkpoints, device="cpu")
    plan = start_render(_good(performance_folder), tmp_path, models, CONFIG)
    plan.jobs = plan.jobs * 3  # six jobs
    assert [s.device for s in make_shards(plan, 2, ["cuda:0", "cuda:1"])] == \
        ["cuda:0", "cuda:1", "cuda:0"]
    assert [len(s.jobs) for s in make_shards(plan, 4)] == [4, 2]
    assert make_shards(plan, 4)[0].device is None  # the render's own device


def test_a_checkpoint_rewritten_after_planning_is_refused(tiny_render_checkpoints,
                                                          performance_folder, tmp_path):
    diffusion, vqvae = tiny_render_checkpoints
    copy = tmp_path / "diffusion.pt"
    shutil.copy(diffusion, copy)
    models = load_render_models(copy, vqvae, device="cpu")
    plan = start_render(_good(performance_folder), tmp_path / "out", models, CONFIG)
    state = load_checkpoint(copy, DIFFUSION_KIND)
    state["latent_scale"] = 2.0  # retrained, say
    save_checkpoint(state, copy)
    with pytest.raises(CheckpointError, match="changed since the render was planned"):
        render_shard(make_shards(plan, 2)[0], plan.out_dir, plan.length, plan.sampler, CONFIG,
                     Checkpoints(str(copy), str(vqvae)))


def test_cpu_threads_are_given_back():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
