"""The end of one performance's render: decode its stitched latents once (so the decoder
never sees a seam of its own), write the WAV whole, measure the seams."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from storage.atomic import write_wav
from storage.render_manifest import RenderRecord
from storage.stamps import utc_now
from tasks.models.tokenizer import decode_latents
from tasks.render.models import RenderModels
from tasks.render.plan import RenderJob
from tasks.render.seams import seam_ratio


def finish_render(job: RenderJob, out_dir: Path, models: RenderModels, length: int,
                  ) -> RenderRecord:
    """Decode and write `out_dir / job.record.wav`; the record the manifest keeps of it."""
    started = time.perf_counter()
    tokenizer = models.tokenizer
    n_samples = job.n_latents * tokenizer.hop
    wave = np.clip(decode_latents(tokenizer, job.latents / models.latent_scale, n_samples), -1, 1)
    decoded = time.perf_counter()
    write_wav(Path(out_dir) / job.record.wav, wave, tokenizer.sample_rate)
    written = time.perf_counter()
    ends = [min(s + length, job.n_latents) for s in job.starts]
    seams = sorted({b * tokenizer.hop for k, s in enumerate(job.starts[1:], 1)
                    for b in (s, ends[k - 1])})
    timings = {**job.timings, "decoding_s": decoded - started, "writing_s": written - decoded}
    return replace(job.record, duration_s=n_samples / tokenizer.sample_rate,
                   phrases=list(job.phrases),
                   seam_ratio=seam_ratio(wave, seams, tokenizer.sample_rate),
                   rendered_at=utc_now(), **{k: round(v, 4) for k, v in timings.items()})
