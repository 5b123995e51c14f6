"""The retrieval cache as a hostile or unlucky user meets it: a killed retrieval, a rerun, a concurrent copy."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from VCFDiagnosisLib.pacs.cache import COMPLETE, STAGING, cached_series, filling_series, series_folder
from VCFDiagnosisLib.pacs.locations import parse_location

LOCATION = parse_location("dicomweb://127.0.0.1:8042/dicom-web/studies/1.2.3/series/1.2.3.4")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_killed_retrieval_is_cleaned_up_by_the_rerun_and_a_running_one_is_left(tmp_path):
    folder = series_folder(LOCATION, tmp_path)
    folder.parent.mkdir(parents=True)
    killed = folder.parent / f"{STAGING}{_dead_pid()}-abc"  # what kill -9 during a retrieval leaves
    killed.mkdir()
    (killed / "1.2.3.4.5.dcm").write_bytes(b"half a file")
    running = folder.parent / f"{STAGING}{os.getpid()}-xyz"  # another retrieval of this (live) process
    running.mkdir()
    with filling_series(LOCATION, tmp_path) as staging:
        (staging / "1.2.3.4.6.dcm").write_bytes(b"DICM")
    assert not killed.exists() and running.exists()
    assert cached_series(LOCATION, tmp_path) == folder and (folder / COMPLETE).read_text() == "1"


def test_a_failed_retrieval_leaves_nothing_and_a_complete_copy_is_never_replaced(tmp_path):
    with pytest.raises(RuntimeError), filling_series(LOCATION, tmp_path) as staging:
        (staging / "1.dcm").write_bytes(b"x")
        raise RuntimeError("the connection dropped")
    assert cached_series(LOCATION, tmp_path) is None
    assert [p.name for p in series_folder(LOCATION, tmp_path).parent.iterdir()] == []
    with filling_series(LOCATION, tmp_path) as staging:
        (staging / "first.dcm").write_bytes(b"x")
    with filling_series(LOCATION, tmp_path) as staging:  # a concurrent run finishing second
        (staging / "second.dcm").write_bytes(b"y")
    assert sorted(p.name for p in series_folder(LOCATION, tmp_path).iterdir()) == [COMPLETE, "first.dcm"]


def test_two_archives_never_share_a_copy(tmp_path):
    other = parse_location("dimse://PACS@10.0.0.9:104/studies/1.2.3/series/1.2.3.4")
    assert series_folder(LOCATION, tmp_path) != series_folder(other, tmp_path)
    assert series_folder(other, tmp_path).resolve().is_relative_to(tmp_path.resolve())
