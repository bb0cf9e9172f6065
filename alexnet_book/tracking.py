"""Experiment tracking (Weights & Biases) and energy accounting (codecarbon).

W&B never prompts: a run logs online when credentials exist, offline otherwise (sync it
later with ``wandb sync runs/wandb/offline-run-*``), and not at all with
``WANDB_MODE=disabled``. Energy comes from codecarbon's ``OfflineEmissionsTracker``,
which needs no network: it reads the power of the CPU, GPU and RAM (or estimates it) and
converts kWh to CO2-equivalent with the grid intensity of ``CODECARBON_COUNTRY``.
"""

from __future__ import annotations

import dataclasses
import logging
import netrc
import os
from pathlib import Path
from typing import Any

import keras

#: Default country (ISO 3166-1 alpha-3) for the grid's carbon intensity, in one place.
DEFAULT_COUNTRY = "USA"
PROJECT = "alexnet-book"


def runs_dir() -> Path:
    """Where run artefacts go: ``$ALEXNET_RUNS_DIR`` or ``./runs`` (git-ignored)."""
    path = Path(os.environ.get("ALEXNET_RUNS_DIR", "runs")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def wandb_credentials_present() -> bool:
    """True when W&B can log in without asking: ``WANDB_API_KEY`` or a netrc entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("//")[-1]
        return netrc.netrc().authenticators(host.rstrip("/")) is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_mode() -> str:
    """The mode a new run will use: ``$WANDB_MODE`` if set, else ``online`` with
    credentials and ``offline`` without."""
    requested = os.environ.get("WANDB_MODE", "").strip().lower()
    if requested:
        return requested
    return "online" if wandb_credentials_present() else "offline"


def start_run(
    name: str | None = None,
    group: str | None = None,
    config: dict[str, Any] | None = None,
    project: str = PROJECT,
    job_type: str = "train",
):
    """Start a W&B run that never prompts, under :func:`runs_dir`.

    Args:
        name: run name shown in the W&B interface.
        group: runs compared together (e.g. the three variants of an ablation).
        config: hyperparameters to record.
        project: W&B project.
        job_type: W&B job type.

    Returns:
        The ``wandb`` run (a disabled run when ``WANDB_MODE=disabled``). Finish it with
        ``run.finish()``.
    """
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb

    mode = wandb_mode()
    return wandb.init(
        project=project,
        name=name,
        group=group,
        job_type=job_type,
        config=config or {},
        mode=mode,
        dir=str(runs_dir()),
        reinit="finish_previous",
        settings=wandb.Settings(silent=True, console="off"),
    )


def sync_hint(run) -> str:
    """One line telling where the run's data is and, for an offline run, how to upload it."""
    if run is None or getattr(run, "disabled", False) or wandb_mode() == "disabled":
        return "W&B: disabled (WANDB_MODE=disabled); nothing logged"
    if run.settings.mode == "offline":
        folder = Path(run.dir).parent  # runs/wandb/offline-run-<date>-<id>
        if folder.is_relative_to(Path.cwd()):
            folder = folder.relative_to(Path.cwd())
        return f"W&B: logged offline; upload later with `wandb sync {folder}`"
    return f"W&B: logged online at {run.url}"


def metrics_logger(log_freq: str | int = "epoch") -> keras.callbacks.Callback:
    """W&B's Keras callback that logs metrics (not model checkpoints) to the active run."""
    from wandb.integration.keras import WandbMetricsLogger

    return WandbMetricsLogger(log_freq=log_freq)


@dataclasses.dataclass(frozen=True)
class Energy:
    """Energy used and emissions caused by one experiment."""

    kwh: float
    kg_co2eq: float
    seconds: float
    country: str

    def describe(self) -> str:
        return (
            f"energy {self.kwh:.2e} kWh, {self.kg_co2eq:.2e} kg CO2eq "
            f"in {self.seconds:.1f} s (grid: {self.country})"
        )


def country() -> str:
    """The grid's country: ``$CODECARBON_COUNTRY`` or :data:`DEFAULT_COUNTRY`."""
    return os.environ.get("CODECARBON_COUNTRY", DEFAULT_COUNTRY).strip().upper()


class EnergyTracker:
    """Measure an experiment's energy with codecarbon, offline and quietly.

    Use as a context manager; the result is in ``.energy`` afterwards::

        with EnergyTracker("ablation") as tracker:
            model.fit(...)
        print(tracker.energy.describe())
    """

    def __init__(self, name: str = PROJECT, measure_power_secs: float = 1.0):
        self.name = name
        self.measure_power_secs = measure_power_secs
        self.energy: Energy | None = None
        self._tracker = None

    def start(self) -> EnergyTracker:
        os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")
        from codecarbon import OfflineEmissionsTracker

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._tracker = OfflineEmissionsTracker(
            project_name=self.name,
            country_iso_code=country(),
            measure_power_secs=self.measure_power_secs,
            output_methods=[],
            log_level="error",
            allow_multiple_runs=True,
        )
        self._tracker.start()
        return self

    def stop(self) -> Energy:
        if self._tracker is None:
            raise RuntimeError("EnergyTracker.stop() called before start()")
        self._tracker.stop()
        data = self._tracker.final_emissions_data
        self.energy = Energy(
            kwh=float(data.energy_consumed),
            kg_co2eq=float(data.emissions),
            seconds=float(data.duration),
            country=country(),
        )
        self._tracker = None
        return self.energy

    def __enter__(self) -> EnergyTracker:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class EnergyCallback(keras.callbacks.Callback):
    """Keras callback: tracks the energy of ``fit`` and, when a W&B run is active, logs
    ``energy_kwh`` and ``emissions_kg_co2eq`` to its summary. The result is in ``.energy``."""

    def __init__(self, name: str = PROJECT):
        super().__init__()
        self.tracker = EnergyTracker(name)
        self.energy: Energy | None = None

    def on_train_begin(self, logs=None):
        self.tracker.start()

    def on_train_end(self, logs=None):
        self.energy = self.tracker.stop()
        try:
            import wandb
        except ImportError:  # pragma: no cover - wandb is a dependency
            return
        if wandb.run is not None:
            wandb.run.summary["energy_kwh"] = self.energy.kwh
            wandb.run.summary["emissions_kg_co2eq"] = self.energy.kg_co2eq
