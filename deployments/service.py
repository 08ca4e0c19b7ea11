"""The deployments `echelon serve` registers: the nightly dataset rebuild and the on-demand
tokenizer, pairing, training, render and evaluation runs. Parameters carry the CLI options' names
(library, home, …).

Each deployment runs one flow run at a time (`concurrency_limit=1`, later runs wait), and the
dataset flow also takes a lock on its home, so two rebuilds never write one database at once.
"""

from __future__ import annotations

from pathlib import Path

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron

from flows.dataset import rebuild_flow
from flows.diffusion import train_diffusion_flow
from flows.mapper import train_mapper_flow
from flows.evaluate import evaluate_flow
from flows.pairs import pairs_flow
from flows.render import render_flow
from flows.vqvae import tokenize_flow, train_vqvae_flow
from storage.home import Home
from tasks.config import ServiceConfig

NIGHTLY_REBUILD = "dataset-rebuild/nightly-rebuild"


def local_timezone() -> str:
    """This machine's IANA time zone (TZ, /etc/timezone, /etc/localtime), else UTC."""
    import tzlocal

    try:
        return tzlocal.get_localzone_name() or "UTC"
    except Exception:  # an unreadable or odd local configuration: schedule in UTC
        return "UTC"


def build_deployments(service: ServiceConfig, home: Path, library: Path | None = None,
                      ) -> list[RunnerDeployment]:
    layout = Home(home)
    home = layout.root
    rebuild = service.rebuild
    library = library or (Path(rebuild.library) if rebuild.library else None)
    if library is None:
        raise ValueError("the nightly rebuild needs a library: set rebuild.library in "
                         "configs/service.yaml or pass --library")
    timezone = rebuild.timezone or local_timezone()
    return [
        rebuild_flow.to_deployment(
            name="nightly-rebuild", schedule=Cron(rebuild.cron, timezone=timezone),
            parameters={"library": str(Path(library).resolve()), "home": str(home),
                        "runner": rebuild.runner, "workers": rebuild.workers,
                        "dask_address": rebuild.dask_address,
                        "then_tokenize": rebuild.then_tokenize},
            concurrency_limit=1, tags=["echelon", "dataset"],
            description=f"Rebuild the phrase database from {library} ({rebuild.cron}, "
                        f"{timezone}), then tokenize new and changed tracks; trigger it by "
                        "hand any time."),
        tokenize_flow.to_deployment(
            name="tokenize", parameters={"home": str(home)}, concurrency_limit=1,
            tags=["echelon", "models"], description="Tokenize the library with the VQ-VAE."),
        train_vqvae_flow.to_deployment(
            name="train-vqvae", parameters={"home": str(home)}, concurrency_limit=1,
            tags=["echelon", "models"],
            description="Train or resume the VQ-VAE (config: a YAML path, default the full size)."),
        pairs_flow.to_deployment(
            name="pairs", parameters={"home": str(home), "sheet": str(layout.pairs_sheet)},
            concurrency_limit=1, tags=["echelon", "models"],
            description="Pair the recordings of a pairing sheet (CSV: recording, track, "
                        "offset_s) with their tracks for diffusion training; unchanged rows "
                        "are kept."),
        train_diffusion_flow.to_deployment(
            name="train-diffusion", parameters={"home": str(home)}, concurrency_limit=1,
            tags=["echelon", "models"],
            description="Train or resume the diffusion model on the motion-audio pairs."),
        train_mapper_flow.to_deployment(
            name="train-mapper", parameters={"home": str(home)}, concurrency_limit=1,
            tags=["echelon", "models"],
            description="Train or resume the motion → phrase mapper that retrieval-guided "
                        "renders use (after train-diffusion)."),
        render_flow.to_deployment(
            name="render", parameters={"home": str(home),
                                       "performances": str(layout.performances),
                                       "out": str(layout.renders)},
            concurrency_limit=1, tags=["echelon", "render"],
            description="Render every performance of a folder to audio (set performances and "
                        "out when triggering; finished renders are skipped)."),
        evaluate_flow.to_deployment(
            name="evaluate", parameters={"home": str(home), "renders": str(layout.renders)},
            concurrency_limit=1, tags=["echelon", "render"],
            description="Judge a render folder: each figure beside its floor and ceiling."),
    ]
