"""Files written whole, with the permissions the user's umask asks for."""

import os
import stat

import pytest

from storage.atomic import process_umask, write_text


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, mask, mode):
    previous = os.umask(mask)
    process_umask.cache_clear()
    try:
        write_text(tmp_path / "summary.json", "{}")
    finally:
        os.umask(previous)
        process_umask.cache_clear()
    assert stat.S_IMODE((tmp_path / "summary.json").stat().st_mode) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]  # no temporary left
