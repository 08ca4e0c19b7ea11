"""`echelon render`: every recorded performance of a folder to audio, in batches, with a
Parquet manifest of what was made from what."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import (create_markdown_artifact, create_progress_artifact,
                               create_table_artifact, update_progress_artifact)
from prefect.cache_policies import NO_CACHE

from storage.db import PhraseDatabase
from storage.home import Home
from storage.locks import folder_lock
from storage.render_manifest import MANIFEST_NAME, RenderRecord
from storage.token_store import read_tokens
from tasks.config import RenderConfig, load_render_config
from tasks.render import (RenderModels, find_performances, load_render_models,
                          render_performances, resolve_sampler)
from tasks.retrieval import PhraseCatalog
from tasks.train_vqvae import CHECKPOINT_NAME as VQVAE_CHECKPOINT

DIFFUSION_CHECKPOINT = "diffusion.pt"


def _catalog(layout: Home, models: RenderModels, db: str | None) -> PhraseCatalog:
    if not layout.tokens.is_file():
        raise ValueError(f"{layout.tokens}: no tokens; retrieval needs `echelon tokenize` first")
    tokenizer = models.tokenizer
    sequences = [s for s in read_tokens(layout.tokens) if s.model_version == tokenizer.version]
    database = PhraseDatabase.open(layout.db_url(db))
    codebook = tokenizer.model.quantizer.embed.detach().cpu().numpy()
    return PhraseCatalog.from_database(database, sequences, codebook, models.latent_scale,
                                       models.latent_rate)


def _render(paths: list[Path], out: Path, models: RenderModels, config: RenderConfig,
            force: bool, catalog: PhraseCatalog | None) -> dict:
    logger = get_run_logger()
    progress = create_progress_artifact(0.0, key="render-progress",
                                        description="Chunks rendered of all performances")

    logged = {"tenth": -1}

    def on_progress(done: int, total: int) -> None:
        update_progress_artifact(progress, progress=100.0 * done / total)
        tenth = 10 * done // total
        if tenth > logged["tenth"]:  # a line per tenth of the work, not per batch
            logged["tenth"] = tenth
            logger.info("chunk %d/%d rendered", done, total)

    def on_finished(record: RenderRecord) -> None:
        logger.info("%s → %s (%.1f s of audio; seam ratio %.2f)", record.performance,
                    out / record.wav, record.duration_s, record.seam_ratio)

    outcome = render_performances(paths, out, models, config, force, catalog, on_progress,
                                  on_finished)
    for path in outcome.failed:
        logger.warning("not rendered: %s", next(r.error for r in outcome.records
                                                 if r.performance == path))
    return {"records": [r.to_json() for r in outcome.records], "rendered": outcome.rendered,
            "skipped": outcome.skipped, "failed": outcome.failed}


load_models_task = task(name="load diffusion model and VQ-VAE", cache_policy=NO_CACHE)(
    load_render_models)
catalog_task = task(name="load phrase catalog", cache_policy=NO_CACHE)(_catalog)
render_task = task(name="render performances", cache_policy=NO_CACHE)(_render)


@flow(name="render", log_prints=True)
def render_flow(performances: Path, out: Path, home: Path,
                config: RenderConfig | Path | None = None,
                diffusion_checkpoint: Path | None = None, vqvae_checkpoint: Path | None = None,
                force: bool = False, retrieval: bool | None = None, device: str | None = None,
                db: str | None = None, sampler: dict | None = None) -> dict:
    """Render every recording under `performances` into `out` with the home's diffusion model
    and VQ-VAE (or the given checkpoints); returns one record per performance and the counts.
    `retrieval` overrides the config's retrieval.enabled; `sampler` (kind, steps,
    guidance_scale, eta) overrides fields of the config's or the checkpoint's sampler."""
    if not isinstance(config, RenderConfig):
        config = load_render_config(config)
    if retrieval is not None:
        config = config.model_copy(update={"retrieval": config.retrieval.model_copy(
            update={"enabled": retrieval})})
    layout = Home(home)
    diffusion_checkpoint = Path(diffusion_checkpoint or
                                layout.diffusion_checkpoints / DIFFUSION_CHECKPOINT)
    vqvae_checkpoint = Path(vqvae_checkpoint or layout.vqvae_checkpoints / VQVAE_CHECKPOINT)
    out = Path(out).resolve()
    # an output folder inside the performances folder holds no recordings (renders.parquet!)
    paths = [p for p in find_performances(performances) if out not in p.resolve().parents]
    if not paths:
        raise ValueError(f"{performances}: no performance recordings (.parquet, .csv) here")
    with folder_lock(out, ".render.lock", "another render is writing to this folder"):
        models = load_models_task(diffusion_checkpoint, vqvae_checkpoint, device)
        config = config.model_copy(update={"sampler": resolve_sampler(config, models.config,
                                                                      sampler)})
        catalog = catalog_task(layout, models, db) if config.retrieval.enabled else None
        result = render_task(paths, out, models, config, force, catalog)

    manifest = out / MANIFEST_NAME
    create_table_artifact(key="render-manifest", table=[
        {k: r[k] for k in ("performance", "status", "wav", "duration_s", "seed", "chunks",
                           "seam_ratio", "error")} for r in result["records"]],
        description=f"Renders in {out} (full provenance in {manifest})")
    create_markdown_artifact(key="render-report", markdown="\n".join([
        "# Render", "",
        f"- performances: `{performances}`; output: `{out}`; manifest: `{manifest}`",
        f"- rendered {len(result['rendered'])}, already done {len(result['skipped'])}, "
        f"failed {len(result['failed'])}",
        f"- diffusion: `{diffusion_checkpoint}`; VQ-VAE: `{vqvae_checkpoint}`",
    ]), description="What this render made")
    return {"manifest": str(manifest), "out": str(out), **result}
