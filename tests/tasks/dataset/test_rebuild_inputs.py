"""What a careless user's library holds does not stop or hang a rebuild: each odd file is
planned without being read and recorded with its reason."""

import os

import numpy as np
import pytest
import soundfile as sf

from tasks.config import AnalysisConfig
from tasks.dataset.rebuild import analyze_file, discover, plan_rebuild


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
