"""The dataset flow end to end on a small generated library (under the Prefect test harness)."""

import hashlib
import os
import shutil

import numpy as np
import pytest
import soundfile as sf
from conftest import clicks

from flows.dataset import rebuild_flow
from storage.db import PhraseDatabase
from storage.home import Home
from synthetic.tracks import SectionSpec, TrackSpec, render, write_track
from tasks.analysis.embedding import EMBEDDING_VERSION


def _track(seed: int, bpm: float):
    spec = TrackSpec(bpm=bpm, seed=seed, lead_in_s=0.1,
                     sections=(SectionSpec("intro_kick", 4), SectionSpec("groove", 4),
                               SectionSpec("break", 4)))
    return render(spec)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    for i, bpm in enumerate((118.0, 126.0)):
        write_track(_track(i, bpm), folder / f"t{i}.wav")
    bad_inputs(folder)
    return folder


BAD_INPUTS = {"notes.wav": "not_audio", "empty.flac": "empty", "truncated.wav": "truncated",
              "nan.wav": "non_finite", "short.wav": "too_short", "silent.wav": "silent",
              "gone.wav": "missing", "caf\\xe9.wav": "bad_name"}


def bad_inputs(folder):
    """Every bad input of the analysis issue, side by side with good files."""
    (folder / "notes.wav").write_text("not audio\n" * 40)
    (folder / "empty.flac").write_bytes(b"")
    t = np.arange(44100 * 3) / 44100
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    sf.write(folder / "full.tmp", tone, 44100, format="WAV")
    data = (folder / "full.tmp").read_bytes()
    (folder / "truncated.wav").write_bytes(data[: len(data) // 2])
    (folder / "full.tmp").unlink()
    nan = tone.copy()
    nan[100:110] = np.nan
    sf.write(folder / "nan.wav", nan, 44100, subtype="FLOAT")
    sf.write(folder / "short.wav", tone[:44100], 44100)
    sf.write(folder / "silent.wav", np.zeros_like(tone), 44100)
    (folder / "gone.wav").symlink_to(folder / "deleted-long-ago.wav")
    sf.write(folder / "latin1.wav", tone, 44100)  # a good file whose name is not UTF-8
    os.rename(folder / "latin1.wav", os.fsencode(folder) + b"/caf\xe9.wav")


def _state(home):
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(Home(home).artifacts.glob("*.parquet"))}
    db = PhraseDatabase.open(Home(home).db_url())
    ids, vectors = db.embeddings(EMBEDDING_VERSION)
    return digests, ids, vectors, db.fingerprints()


def _task_runs(flow_run_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[flow_run_id])))


def test_rebuild_is_incremental_and_idempotent(prefect_harness, library, tmp_path):
    library = shutil.copytree(library, tmp_path / "library", symlinks=True)  # this test edits it
    home = tmp_path / "home"
    first = rebuild_flow(library=library, home=home, chunk_size=4)
    assert (first["analyzed"], first["failed"], first["skipped"]) == (2, len(BAD_INPUTS), 0)
    assert first["phrases"] > 0
    n_files = 2 + len(BAD_INPUTS)
    assert len(_task_runs(first["run_id"])) == -(-n_files // 4)  # one task run per chunk
    before = _state(home)

    second = rebuild_flow(library=library, home=home)
    assert (second["analyzed"], second["failed"], second["skipped"], second["removed"]) == (0, 0, n_files, 0)
    after = _state(home)
    assert after[0] == before[0]  # byte-identical Parquet
    assert np.array_equal(after[1], before[1]) and np.array_equal(after[2], before[2])

    db = PhraseDatabase.open(Home(home).db_url())
    failures = {os.path.basename(f["path"]): f["reason"] for f in db.failures(first["run_id"])}
    assert failures == BAD_INPUTS

    # Touch: new mtime, same content → nothing analysed.
    os.utime(library / "t0.wav", ns=(1, 1))
    touched = rebuild_flow(library=library, home=home)
    assert touched["analyzed"] == 0 and touched["skipped"] == n_files
    unchanged_ids = set(_state(home)[1].tolist())

    # Change: same path, new content → that file alone is analysed, its phrases replaced.
    write_track(_track(9, 103.0), library / "t0.wav")
    changed_content = rebuild_flow(library=library, home=home)
    assert (changed_content["analyzed"], changed_content["skipped"]) == (1, n_files - 1)
    assert set(_state(home)[1].tolist()) != unchanged_ids

    # Add one, delete one: exactly those.
    write_track(_track(5, 131.0), library / "t5.wav")
    shutil.move(library / "t1.wav", tmp_path / "t1.wav")
    changed = rebuild_flow(library=library, home=home)
    assert (changed["analyzed"], changed["removed"]) == (1, 1)
    ids, _ = PhraseDatabase.open(Home(home).db_url()).embeddings(EMBEDDING_VERSION)
    paths = {p.track_path for p in PhraseDatabase.open(Home(home).db_url()).phrases(ids.tolist())}
    assert paths == {str(library / "t0.wav"), str(library / "t5.wav")}


def test_corrupt_or_missing_faiss_is_rebuilt_not_served(prefect_harness, library, tmp_path):
    from storage.vector_index import load_or_rebuild

    home = tmp_path / "home"
    rebuild_flow(library=library, home=home)
    faiss_file = Home(home).faiss
    db = PhraseDatabase.open(Home(home).db_url())
    ids, vectors = db.embeddings(EMBEDDING_VERSION)
    index, rebuilt = load_or_rebuild(faiss_file, ids, vectors, EMBEDDING_VERSION)
    assert not rebuilt and np.array_equal(np.sort(index.ids), np.sort(ids))

    faiss_file.write_bytes(b"garbage")
    index, rebuilt = load_or_rebuild(faiss_file, ids, vectors, EMBEDDING_VERSION)
    assert rebuilt and index.size == len(ids)

    # An index that disagrees with the database (an orphan vector) is rebuilt too.
    index, rebuilt = load_or_rebuild(faiss_file, ids[:-1], vectors[:-1], EMBEDDING_VERSION)
    assert rebuilt and index.size == len(ids) - 1

    faiss_file.unlink()
    index, rebuilt = load_or_rebuild(faiss_file, ids, vectors, EMBEDDING_VERSION)
    assert rebuilt and faiss_file.is_file()


def test_cli_rebuild_search_stats_sql(prefect_harness, library, tmp_path):
    import json

    from typer.testing import CliRunner

    from flows.cli import app

    runner = CliRunner()
    home = tmp_path / "home"
    result = runner.invoke(app, ["rebuild", "--library", str(library), "--home", str(home), "--workers", "1",
                                 "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(summary) == {"analyzed", "skipped", "failed", "removed", "phrases", "run_id",
                            "low_confidence", "reembedded", "stale_embeddings"}

    # A stored phrase's own audio finds that phrase first.
    rows = json.loads(runner.invoke(app, ["sql", "SELECT phrase_id, track_path, start_s, end_s FROM phrases "
                                          "ORDER BY phrase_id LIMIT 1", "--home", str(home), "--json"]).stdout)
    first = rows[0]
    result = runner.invoke(app, ["search", "--audio", first["track_path"], "--start", str(first["start_s"]),
                                 "--end", str(first["end_s"]), "-k", "3", "--home", str(home), "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert hits[0]["phrase_id"] == first["phrase_id"]
    assert set(hits[0]) == {"phrase_id", "track_path", "start_s", "end_s", "score"}

    by_id = json.loads(runner.invoke(app, ["search", "--phrase", str(first["phrase_id"]), "-k", "2",
                                           "--home", str(home), "--json"]).stdout)
    assert len(by_id) == 2 and first["phrase_id"] not in [h["phrase_id"] for h in by_id]

    stats = json.loads(runner.invoke(app, ["stats", "--home", str(home), "--json"]).stdout)
    assert stats["tracks_ok"] == 2 and stats["tracks_failed"] == len(BAD_INPUTS) and stats["phrases"] == summary["phrases"]

    bad = runner.invoke(app, ["sql", "SELECT * FROM nowhere", "--home", str(home)])
    assert bad.exit_code == 1 and "nowhere" in bad.stderr


def test_the_rebuild_lists_tracks_whose_phrases_may_be_misaligned(prefect_harness, tmp_path):
    """A track of identical clicks on every 8th note (which of eight is the bar line?) is
    listed in the UI artifact to check by ear; a house track with its kick and chords is not."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId,
                                                ArtifactFilterKey)

    from tasks.analysis.beats import LOW_DOWNBEAT_CONFIDENCE

    library = tmp_path / "library"
    library.mkdir()
    write_track(_track(3, 122.0), library / "house.wav")
    clicks(np.arange(0.5, 24, 0.25), library / "clicks.wav")

    summary = rebuild_flow(library=library, home=tmp_path / "home")
    assert summary["analyzed"] == 2 and summary["low_confidence"] == 1
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["dataset-rebuild-low-confidence"]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[summary["run_id"]])))
    assert len(artifacts) == 1 and "check them by ear" in artifacts[0].description
    table = artifacts[0].data if isinstance(artifacts[0].data, list) else json.loads(artifacts[0].data)
    assert [row["path"] for row in table] == [str(library / "clicks.wav")]
    assert table[0]["downbeat_confidence"] < LOW_DOWNBEAT_CONFIDENCE
