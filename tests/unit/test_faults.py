"""The crash tests' pause points: a stage named in the settings, checked when they load."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from xdm_connector.faults import pause_at, resume
from xdm_connector.settings import FaultStage, Settings

EXPORT_STAGES = ("extract", "written", "created", "ordered", "committed", "completed")
STAGES = (*EXPORT_STAGES, "webhook-leased", "webhook-sent")


def test_the_stages_are_those_the_crash_tests_pause_at() -> None:
    assert get_args(FaultStage) == STAGES


def test_the_stage_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDMC_FAULT_PAUSE_AT", "written")
    assert Settings().fault_pause_at == "written"
    monkeypatch.delenv("XDMC_FAULT_PAUSE_AT")
    assert Settings().fault_pause_at is None


def test_a_misspelt_stage_is_refused_naming_the_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDMC_FAULT_PAUSE_AT", "writen")
    with pytest.raises(ValidationError) as raised:
        Settings()
    [error] = raised.value.errors()
    assert error["loc"] == ("fault_pause_at",)
    assert error["input"] == "writen"
    message = str(raised.value)
    for stage in STAGES:
        assert f"'{stage}'" in message


def test_another_stage_does_not_pause(tmp_path: Path) -> None:
    pause_at("extract", "written", tmp_path)
    pause_at("extract", None, tmp_path)
    assert not (tmp_path / "faults").exists()


def test_the_named_stage_pauses_until_it_is_resumed(tmp_path: Path) -> None:
    paused = tmp_path / "faults" / "created.paused"
    resumed = threading.Event()

    def run() -> None:
        pause_at("created", "created", tmp_path)
        resumed.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    while not (paused.exists() and paused.read_text()):
        assert worker.is_alive()
        resumed.wait(0.01)
    assert not resumed.is_set()  # it waits for the resume file
    assert paused.read_text().isdigit()
    resume("created", tmp_path)
    worker.join()
    assert resumed.is_set()
