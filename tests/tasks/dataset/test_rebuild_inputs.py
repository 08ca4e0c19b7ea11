"""What a careless user's library holds does not stop or hang a rebuild: each odd file is
planned without being read and recorded with its reason."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from storage.db import PhraseDatabase
from storage.records import Fingerprint
from tasks.analysis.audio import decoder_fingerprint
from tasks.config import AnalysisConfig
from tasks.dataset.rebuild import analyze_file, discover, plan_rebuild

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.timeout(60)
def test_a_link_to_a_device_is_recorded_not_read(tmp_path):
    sr = 22050
    t = np.arange(3 * sr) / sr
    sf.write(tmp_path / "good.wav", 0.3 * np.sin(2 * np.pi * 220 * t), sr)
    os.symlink("/dev/zero", tmp_path / "zero.wav")  # would be hashed forever
    os.symlink(tmp_path / "gone.wav", tmp_path / "dangling.wav")
    files = {os.path.basename(f.path): f for f in discover(tmp_path)}
    assert set(files) == {"good.wav", "zero.wav", "dangling.wav"}
    plan = plan_rebuild(list(files.values()), {}, "cfg")
    digests = {os.path.basename(f.path): digest for f, digest in plan.analyze}
    assert digests["zero.wav"] == digests["dangling.wav"] == "unreadable"
    zero = analyze_file(files["zero.wav"], "unreadable", AnalysisConfig())
    assert zero.status == "failed" and zero.reason == "not_audio"
    assert "not a regular file" in zero.error
    dangling = analyze_file(files["dangling.wav"], "unreadable", AnalysisConfig())
    assert dangling.status == "failed" and dangling.reason == "missing"


def _tone(path, seconds=3.0, sr=22050):
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), sr)


def test_a_name_that_is_not_utf8_is_recorded_and_stored(tmp_path):
    _tone(tmp_path / "plain.wav")
    os.rename(tmp_path / "plain.wav", os.fsencode(tmp_path) + b"/caf\xe9.wav")  # Latin-1 é
    [file] = discover(tmp_path)
    assert file.path.endswith("caf\\xe9.wav") and "UTF-8" in file.name_error
    plan = plan_rebuild([file], {}, "cfg")
    record = analyze_file(file, plan.analyze[0][1], AnalysisConfig())
    assert (record.status, record.reason) == ("failed", "bad_name")
    assert "convmv" in record.error

    db = PhraseDatabase.open(f"sqlite:///{tmp_path / 'phrases.db'}")
    db.start_run("run", str(tmp_path))
    db.save_record(record, "run")  # the name is stored: the run goes on
    again = plan_rebuild([file], db.fingerprints(), record.config_hash,
                         decoder_fingerprint())
    assert again.skipped == [file.path] and not again.analyze


def test_a_failure_the_machine_caused_is_tried_again(tmp_path, monkeypatch):
    m4a = tmp_path / "song.m4a"
    shutil.copy(DATA / "stereo_sample.m4a", m4a)
    [file] = discover(tmp_path)
    db = PhraseDatabase.open(f"sqlite:///{tmp_path / 'phrases.db'}")
    with monkeypatch.context() as patch:  # no ffmpeg on this machine yet
        patch.setenv("PATH", str(tmp_path / "no-tools"))
        refused = analyze_file(file, "h", AnalysisConfig())
        assert (refused.status, refused.reason) == ("failed", "not_audio")
        assert "ffmpeg" in refused.error
        db.start_run("run-1", str(tmp_path))
        db.save_record(refused, "run-1")
        unchanged = plan_rebuild([file], db.fingerprints(), refused.config_hash,
                                 decoder_fingerprint())
        assert unchanged.skipped == [file.path]  # same decoders: the failure stands
    installed = plan_rebuild([file], db.fingerprints(), refused.config_hash,
                             decoder_fingerprint())
    assert [f.path for f, _ in installed.analyze] == [file.path]
    assert analyze_file(file, "h", AnalysisConfig()).status == "ok"


def test_an_unreadable_file_is_recorded_and_tried_every_run(tmp_path, monkeypatch):
    _tone(tmp_path / "locked.wav")
    [file] = discover(tmp_path)
    real_open = Path.open

    def refuse(self, *args, **kwargs):
        if self.name == "locked.wav":
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)

    with monkeypatch.context() as patch:  # root reads every file: refuse it the way chmod 000 would
        patch.setattr(Path, "open", refuse)
        record = analyze_file(file, "h", AnalysisConfig())
    assert (record.status, record.reason) == ("failed", "unreadable")
    assert "Permission denied" in record.error
    stored = {file.path: Fingerprint(file.size, file.mtime_ns, "h", record.config_hash,
                                     "failed", "unreadable", record.decoders)}
    plan = plan_rebuild([file], stored, record.config_hash, record.decoders)
    assert [f.path for f, _ in plan.analyze] == [file.path]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_a_file_without_read_permission_is_unreadable(tmp_path):
    _tone(tmp_path / "locked.wav")
    os.chmod(tmp_path / "locked.wav", 0)
    [file] = discover(tmp_path)
    assert analyze_file(file, "h", AnalysisConfig()).reason == "unreadable"
