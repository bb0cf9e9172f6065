"""Shared test settings: W&B offline and quiet, run artefacts in a temporary folder."""

import os

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")


@pytest.fixture
def runs_in_tmp(tmp_path, monkeypatch):
    """Run artefacts (W&B, checkpoints) in a temporary folder, not the repository."""
    monkeypatch.setenv("ALEXNET_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "runs"
