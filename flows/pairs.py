"""`echelon pairs`: a pairing sheet → the home's motion-audio pairs, ready for training.

Each track of the sheet is made sure of in the phrase database (analysed with the dataset
flow's own steps when it is not, and tokenized when the home has a tokenizer); each row is
validated and placed in time (the offset given, or clock sync's) and written to
`HOME/motion_audio_pairs.parquet` with its status. Incremental: a row whose recording, track,
offset and settings are unchanged is kept as it was.
"""

from __future__ import annotations

import base64
import os
import re
import uuid
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows import notify
from flows.dataset import analyze_chunk_task, rebuild_lock, refresh_derived
from storage.db import PhraseDatabase, check_integrity
from storage.home import Home
from storage.pair_manifest import MotionAudioPair, read_pairs, write_pairs
from storage.records import TrackGrid
from storage.token_store import read_tokens
from storage.track_grids import track_grids
from tasks.config import (AnalysisConfig, MotionConfig, load_analysis_config,
                          load_echelon_config)
from tasks.dataset.rebuild import FileStat, chunked, storable_name
from tasks.pairs.build import build_pair, file_hash, pair_fingerprint
from tasks.pairs.plot import plot_pair
from tasks.pairs.sheet import SheetRow, read_sheet

build_pair_task = task(name="pair recording with track", cache_policy=NO_CACHE,
                       task_run_name="pair {row.pair_id}")(build_pair)


def pair_json(pair: MotionAudioPair, row: SheetRow | None = None) -> dict:
    """One row of `echelon pairs --json` (the contract) and of the UI table."""
    return {"recording": str(row.recording) if row else pair.motion_path,
            "track": str(row.track) if row else pair.audio_path,
            "offset_s": None if pair.offset_s is None else round(pair.offset_s, 4),
            "estimated": pair.estimated, "confidence": pair.confidence,
            "status": pair.status, "error": None if pair.status == "ok" else pair.reason,
            "note": pair.reason if pair.status == "ok" else None}


@flow(name="motion-audio-pairs", log_prints=True, **notify.HOOKS)
def pairs_flow(sheet: Path, home: Path, db: str | None = None,
               config: AnalysisConfig | Path | None = None) -> dict:
    """Pair each recording of the sheet with its track; returns the manifest's path, the
    rows (as `pair_json`), and how many rows were computed and kept."""
    logger = get_run_logger()
    layout = Home(home)
    if not isinstance(config, AnalysisConfig):
        config = load_analysis_config(config)
    motion = load_echelon_config().motion
    rows = read_sheet(sheet)
    tracks = sorted({r.track for r in rows if r.track.is_file() and not r.error})
    with rebuild_lock(layout):  # the rebuild's lock: one writer of the database at a time
        database = PhraseDatabase.open(layout.db_url(db))
        check_integrity(database.engine)
        grids, analysed = _analysed(database, layout, tracks, config, logger)
    tokenized = _tokenized(layout, db, grids, analysed, logger)

    earlier = {p.pair_id: p for p in _earlier(layout, logger)}
    pairs, syncs, computed = {}, {}, []
    for row in rows:
        grid = grids.get(str(row.track))
        fingerprint = pair_fingerprint(row, file_hash(row.recording), grid, motion)
        known = earlier.get(row.pair_id)
        if known is not None and known.fingerprint == fingerprint:
            pairs[row.pair_id] = known
        else:
            computed.append((row, build_pair_task.submit(row, grid, motion, fingerprint,
                                                         layout.root)))
    for row, future in computed:
        pairs[row.pair_id], syncs[row.pair_id] = future.result()
    manifest = write_pairs(list(pairs.values()), layout.pairs_manifest)

    by_id = {r.pair_id: r for r in rows}
    table = [pair_json(pairs[r.pair_id], r) for r in rows]
    for entry in table:
        if entry["status"] != "ok":
            logger.warning("%s: %s: %s", entry["recording"], entry["status"], entry["error"])
    _report(layout, pairs, syncs, by_id, grids, motion, table)
    logger.info("%d pairs: %d computed, %d unchanged; %d ok, %d low confidence, %d failed",
                len(rows), len(computed), len(rows) - len(computed),
                *(sum(e["status"] == s for e in table)
                  for s in ("ok", "low_confidence", "failed")))
    return {"manifest": str(manifest), "pairs": table, "computed": len(computed),
            "kept": len(rows) - len(computed), "analysed": analysed, "tokenized": tokenized}


def _analysed(database: PhraseDatabase, layout: Home, tracks: list[Path],
              config: AnalysisConfig, logger) -> tuple[dict[str, TrackGrid], int]:
    """path → the analysis of each track (a track already in the database under another path
    counts: the same content); tracks nowhere in it are analysed now, as a rebuild would."""
    hashes = {str(t): file_hash(t) for t in tracks}
    known = track_grids(database, list(hashes.values()))
    todo = [t for t in tracks if hashes[str(t)] not in known]
    if todo:
        logger.info("%d tracks of the sheet are not in the phrase database: analysing them",
                    len(todo))
        items = []
        for t in todo:  # the digest just taken is the one the record is stored under
            name, name_error = storable_name(str(t))
            info = os.stat(t)
            items.append((FileStat(name, info.st_size, info.st_mtime_ns, name_error),
                          hashes[str(t)]))
        run_id = str(flow_run.get_id() or uuid.uuid4())
        database.start_run(run_id, "pairing sheet")
        futures = [analyze_chunk_task.submit(items=items, config=config)
                   for items in chunked(items)]
        for future in futures:
            database.save_records(future.result(), run_id)
        database.finish_run(run_id, analyzed=len(todo))
        refresh_derived(database, layout, logger)
        known = track_grids(database, list(hashes.values()))
    return {path: known[h] for path, h in hashes.items() if h in known}, len(todo)


def _tokenized(layout: Home, db: str | None, grids: dict[str, TrackGrid], analysed: int,
               logger) -> str:
    """Tokens for the sheet's tracks when the home has a tokenizer; else what to run."""
    if not layout.vqvae_checkpoint.is_file():
        return "no tokenizer trained yet: `echelon train-vqvae`, then `echelon tokenize`"
    have = {s.track_id for s in read_tokens(layout.tokens)} if layout.tokens.is_file() \
        else set()
    if not analysed and all(g.content_hash in have for g in grids.values() if g.status == "ok"):
        return "up to date"
    from flows.vqvae import tokenize_flow

    result = tokenize_flow(home=layout.root, db=db)
    logger.info("tokenized %d tracks (%d failed)", result["tokenized"], result["failed"])
    return f"{result['tokenized']} tokenized, {result['failed']} failed"


def _earlier(layout: Home, logger) -> list[MotionAudioPair]:
    if not layout.pairs_manifest.is_file():
        return []
    try:
        return read_pairs(layout.pairs_manifest)
    except (OSError, ValueError) as error:  # unreadable: every row is made again
        logger.warning("%s cannot be read (%s): every pair is made again",
                       layout.pairs_manifest, error)
        return []


def _report(layout: Home, pairs: dict, syncs: dict, rows: dict[str, SheetRow],
            grids: dict[str, TrackGrid], motion: MotionConfig, table: list[dict]) -> None:
    create_table_artifact(key="motion-audio-pairs", table=table,
                          description="Each recording of the pairing sheet with its track: "
                                      "the offset (estimated or given), clock sync's "
                                      "confidence, and the status training goes by")
    pictures = []
    for pair_id, sync in syncs.items():
        pair = pairs[pair_id]
        if pair.status != "low_confidence" or sync is None:
            continue
        target = layout.pair_plots / f"{_safe(pair_id)}.png"
        plot_pair(pair, sync.rival_offset_s, grids[str(rows[pair_id].track)], motion, target)
        pictures.append((pair_id, target))
    if pictures:
        lines = ["# Pairs clock sync was unsure of", "",
                 "Where the dancers' speed (red) rises and falls with the music's loudness "
                 "(grey), the offset is right: put it in the sheet's `offset_s`.", ""]
        lines += [f"## {pair_id}\n\n![{pair_id}](data:image/png;base64,"
                  f"{base64.b64encode(path.read_bytes()).decode()})" for pair_id, path in pictures]
        create_markdown_artifact(key="motion-audio-pairs-unsure", markdown="\n".join(lines),
                                 description="Motion against music for each low-confidence pair")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")[:100] or "pair"
