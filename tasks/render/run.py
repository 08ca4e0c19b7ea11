"""A whole batch render as one plain loop: plan → rounds → finish each performance as its
last chunk is made. `flows/render.py` runs the same steps with a task run per round."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage.atomic import remove_partial_files
from storage.render_manifest import RenderRecord, write_manifest
from tasks.config import RenderConfig
from tasks.render.finish import finish_render
from tasks.render.models import RenderModels, resolve_sampler
from tasks.render.plan import RenderPlan, plan_renders
from tasks.render.retrieval import PhraseCatalog
from tasks.render.sampling import choose_phrases, render_round
from tasks.render.spread import cpu_threads


@dataclass
class RenderOutcome:
    records: list[RenderRecord]  # one per performance found, in path order
    rendered: list[str]
    skipped: list[str]
    failed: list[str]


def start_render(paths: list[Path], out_dir: Path, models: RenderModels, config: RenderConfig,
                 force: bool = False, catalog: PhraseCatalog | None = None) -> RenderPlan:
    """Clear a killed run's temp files, plan, record the failures, choose retrieval phrases."""
    if config.retrieval.enabled and catalog is None:
        raise ValueError("retrieval is enabled but no phrase catalog was given")
    remove_partial_files(out_dir)
    plan = plan_renders(paths, Path(out_dir), models, config, resolve_sampler(config, models.config),
                        force, catalog.chooser if catalog is not None else "")
    write_manifest(list(plan.records.values()), plan.manifest)
    if config.retrieval.enabled:
        choose_phrases(plan.jobs, catalog, config)
    return plan


def finish_round(plan: RenderPlan, k: int, models: RenderModels,
                 on_finished: Callable[[RenderRecord], None] | None = None) -> None:
    """Decode and write every performance whose last chunk was chunk k; the manifest is
    rewritten after each, so a kill loses at most the one being written."""
    for job in plan.ending(k):
        plan.records[str(job.path)] = record = finish_render(job, plan.out_dir, models,
                                                             plan.length)
        write_manifest(list(plan.records.values()), plan.manifest)
        if on_finished:
            on_finished(record)


def outcome(plan: RenderPlan, paths: list[Path]) -> RenderOutcome:
    rendered = [str(j.path) for j in plan.jobs if str(j.path) not in plan.failed]
    return RenderOutcome([plan.records[str(p)] for p in paths], rendered, plan.skipped,
                         plan.failed)


def render_performances(paths: list[Path], out_dir: Path, models: RenderModels,
                        config: RenderConfig, force: bool = False,
                        catalog: PhraseCatalog | None = None,
                        on_progress: Callable[[int, int], None] | None = None,
                        on_finished: Callable[[RenderRecord], None] | None = None,
                        ) -> RenderOutcome:
    """Render every performance in `paths` into `out_dir`, writing `out_dir/renders.parquet`.
    A performance whose finished render (same content, same settings) is in the manifest and
    on disk is skipped unless `force`. Bad recordings become failed records; the rest go on."""
    plan = start_render(paths, out_dir, models, config, force, catalog)
    total = sum(len(j.starts) for j in plan.jobs)
    done = 0
    with cpu_threads(config.threads):
        for k in range(plan.rounds):
            done += render_round(plan, k, models, config, catalog)
            if on_progress:
                on_progress(done, total)
            finish_round(plan, k, models, on_finished)
    return outcome(plan, paths)
