"""Experiment tracking (Weights & Biases) and energy accounting (codecarbon).

W&B never prompts: a run logs online when credentials exist and W&B's server answers
within a few seconds, offline otherwise (sync it later with
``wandb sync runs/wandb/offline-run-*``), and not at all with ``WANDB_MODE=disabled``.
Energy comes from codecarbon's ``OfflineEmissionsTracker``, which needs no network: it
reads the power of the CPU, GPU and RAM (or estimates it) and converts kWh to
CO2-equivalent with the grid intensity of ``CODECARBON_COUNTRY`` (an ISO 3166-1 alpha-3
code that codecarbon has grid data for, checked).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import netrc
import os
import re
import threading
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path
from typing import Any

import keras

#: Default country (ISO 3166-1 alpha-3) for the grid's carbon intensity, in one place.
DEFAULT_COUNTRY = "USA"
PROJECT = "alexnet-book"
#: The values W&B accepts for ``WANDB_MODE``, in any case ("dryrun" is an old name of
#: "offline", "run" of "online"; both are read as the new name).
WANDB_MODES = ("online", "offline", "disabled", "dryrun", "run", "shared")
_MODE_ALIASES = {"dryrun": "offline", "run": "online"}
_ONLINE_MODES = ("online", "shared")
#: Seconds to wait for W&B's server before logging offline instead.
REACHABILITY_TIMEOUT = 3.0
#: Seconds ``wandb.init`` may take online once the server has answered (W&B's default is 90).
INIT_TIMEOUT = 20.0


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


def _requested_mode() -> str | None:
    """``$WANDB_MODE`` normalised (any case and spacing, old names to new ones); ``None``
    when unset or blank.

    Raises:
        ValueError: ``WANDB_MODE`` is not one of :data:`WANDB_MODES`.
    """
    raw = os.environ.get("WANDB_MODE")
    requested = (raw or "").strip().lower()
    if not requested:
        return None
    if requested not in WANDB_MODES:
        raise ValueError(f"WANDB_MODE must be one of {', '.join(WANDB_MODES)} (any case; or "
                         f"unset), got {raw!r}")
    return _MODE_ALIASES.get(requested, requested)


def wandb_mode() -> str:
    """The mode a new run asks for: ``$WANDB_MODE`` if set (any case; "dryrun" reads as
    "offline", "run" as "online", a blank value as unset), else ``online`` with
    credentials and ``offline`` without (:func:`start_run` still falls back to offline
    when the server does not answer).

    Raises:
        ValueError: ``WANDB_MODE`` is not one of :data:`WANDB_MODES`.
    """
    requested = _requested_mode()
    if requested is not None:
        return requested
    return "online" if wandb_credentials_present() else "offline"


def _normalise_mode_variable() -> None:
    """Write ``$WANDB_MODE`` as wandb accepts it (wandb reads the variable itself and
    rejects "Offline" or an empty value with a pydantic error): the normalised name, or
    unset when blank.

    Raises:
        ValueError: ``WANDB_MODE`` is not one of :data:`WANDB_MODES`.
    """
    requested = _requested_mode()
    if requested is None:
        os.environ.pop("WANDB_MODE", None)
    else:
        os.environ["WANDB_MODE"] = requested


def wandb_base_url() -> str:
    """W&B's server: ``$WANDB_BASE_URL`` or ``https://api.wandb.ai``."""
    return os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").strip().rstrip("/")


def wandb_reachable(timeout: float = REACHABILITY_TIMEOUT) -> bool:
    """True when W&B's server answers an HTTP request (any status) within ``timeout``
    seconds; the whole check, name resolution included, never takes longer."""
    answered: list[bool] = []

    def probe() -> None:
        try:
            request = urllib.request.Request(wandb_base_url(), method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):
                answered.append(True)
        except urllib.error.HTTPError:
            answered.append(True)  # an error status is still an answer
        except (OSError, ValueError):
            answered.append(False)

    thread = threading.Thread(target=probe, name="wandb-reachable", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered and answered[0])


def start_run(
    name: str | None = None,
    group: str | None = None,
    config: dict[str, Any] | None = None,
):
    """Start a W&B run of the course's project (:data:`PROJECT`) that never prompts, under
    :func:`runs_dir`.

    Args:
        name: run name shown in the W&B interface.
        group: runs compared together (e.g. the three variants of an ablation).
        config: hyperparameters to record.

    Returns:
        The ``wandb`` run (a disabled run when ``WANDB_MODE=disabled``). Finish it with
        ``run.finish()``. An online run whose server does not answer within
        :data:`REACHABILITY_TIMEOUT` seconds (or fails to start) logs offline instead,
        with one printed line saying so.

    Raises:
        ValueError: an invalid ``WANDB_MODE`` (checked before anything waits; a valid one
            in another case, an old name or a blank value is normalised in the environment).
    """
    mode = wandb_mode()
    _normalise_mode_variable()
    os.environ.setdefault("WANDB_SILENT", "true")
    # wandb when a run starts, not with the module: it takes about half a second to import
    import wandb

    if mode in _ONLINE_MODES and not wandb_reachable():
        print(f"W&B: {wandb_base_url()} did not answer within {REACHABILITY_TIMEOUT:g} s; "
              "logging offline instead (upload later with `wandb sync`)", flush=True)
        mode = "offline"

    def init(mode: str):
        return wandb.init(
            project=PROJECT,
            name=name,
            group=group,
            job_type="train",
            config=config or {},
            mode=mode,
            dir=str(runs_dir()),
            reinit="finish_previous",
            settings=wandb.Settings(silent=True, console="off", init_timeout=INIT_TIMEOUT),
        )

    if mode not in _ONLINE_MODES:
        return init(mode)
    try:
        return init(mode)
    except wandb.Error as error:  # the server stopped answering after the check
        print(f"W&B: the online run did not start ({type(error).__name__}: {error}); "
              "logging offline instead (upload later with `wandb sync`)", flush=True)
        return init("offline")


def sync_hint(run) -> str:
    """One line telling where the run's data is and, for an offline run, how to upload it:
    what the run did, read from the run (its mode and URL), not from the settings asked for."""
    mode = None if run is None else getattr(getattr(run, "settings", None), "mode", None)
    if run is None or getattr(run, "disabled", False) or mode == "disabled":
        return "W&B: disabled (WANDB_MODE=disabled); nothing logged"
    if mode in ("offline", "dryrun"):
        folder = Path(run.dir).parent  # runs/wandb/offline-run-<date>-<id>
        if folder.is_relative_to(Path.cwd()):
            folder = folder.relative_to(Path.cwd())
        return f"W&B: logged offline; upload later with `wandb sync {folder}`"
    url = getattr(run, "url", None)
    if not url:
        return f"W&B: the run (mode {mode!r}) has no web page; its files are in {run.dir}"
    return f"W&B: logged online at {url}"


def metrics_logger(log_freq: str | int = "epoch") -> keras.callbacks.Callback:
    """W&B's Keras callback that logs metrics (not model checkpoints) to the active run."""
    # wandb's Keras integration imports TensorFlow: here, so the module imports on JAX without it
    from wandb.integration.keras import WandbMetricsLogger

    return WandbMetricsLogger(log_freq=log_freq)


class EpochLog(keras.callbacks.Callback):
    """One printed line per epoch, for ``fit(..., verbose=0)``: the epoch, its wall time
    and every logged metric to four significant digits. Keras' ``verbose=2`` prints two
    lines per epoch ("Epoch 1/5", then the metrics), which the website shows as separate
    boxes. No per-batch hook, so ``fit`` keeps dispatching steps asynchronously."""

    async_safe = True

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        metrics = ", ".join(f"{name} {float(value):.4g}" for name, value in (logs or {}).items())
        print(f"epoch {epoch + 1}/{self.params.get('epochs', '?')} ({seconds:.0f} s): {metrics}")


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


@functools.lru_cache(maxsize=1)
def _codecarbon_grid_data() -> tuple[frozenset[str], str]:
    """The country codes of codecarbon's energy-mix table and the table's name."""
    # codecarbon when energy is measured, not with the module (a chapter may track none)
    from codecarbon.input import DataSource

    source = DataSource()
    codes = frozenset(c for c in source.get_global_energy_mix_data() if re.fullmatch(r"[A-Z]{3}", c))
    name = f"codecarbon {version('codecarbon')}'s {source.config['global_energy_mix_data_path']}"
    return codes, name


def codecarbon_countries() -> frozenset[str]:
    """The ISO 3166-1 alpha-3 codes codecarbon has a grid carbon intensity for offline:
    the countries of its energy-mix table (``data/private_infra/global_energy_mix.json``)."""
    return _codecarbon_grid_data()[0]


def _iso_name(code: str) -> str | None:
    """The country's name when ``code`` is an ISO 3166-1 alpha-3 code, else ``None``."""
    try:
        import pycountry  # codecarbon's own dependency
    except ImportError:  # pragma: no cover - installed with codecarbon
        return None
    found = pycountry.countries.get(alpha_3=code) if re.fullmatch(r"[A-Z]{3}", code) else None
    return None if found is None else found.name


def country() -> str:
    """The grid's country: ``$CODECARBON_COUNTRY`` (any case) or :data:`DEFAULT_COUNTRY`.

    Raises:
        ValueError: ``CODECARBON_COUNTRY`` is set but is not one of
            :func:`codecarbon_countries` (codecarbon would otherwise report the world
            average's rate under the code, with only a log line).
    """
    raw = os.environ.get("CODECARBON_COUNTRY")
    if raw is None:
        return DEFAULT_COUNTRY
    code = raw.strip().upper()
    known, source = _codecarbon_grid_data()
    if code not in known:
        name = _iso_name(code)
        why = (f"{code} is {name}'s ISO code, but codecarbon has no grid data for it; "
               if name else "")
        raise ValueError(
            "CODECARBON_COUNTRY must be an ISO 3166-1 alpha-3 country code that codecarbon has "
            f"grid data for, such as USA, FRA or DEU (the {len(known)} codes in {source}), "
            f"got {raw!r}; {why}unset it for the default {DEFAULT_COUNTRY}")
    return code


def _no_output_files(tracker_class) -> dict:
    """The argument that keeps codecarbon from writing emissions.csv: ``output_methods=[]``
    from codecarbon 3, ``save_to_file=False`` before (Colab's psutil 5.9.5 allows at most
    codecarbon 2.7.1, whose tracker has no ``output_methods``)."""
    accepted = {name for cls in tracker_class.__mro__ if "__init__" in vars(cls)
                for name in inspect.signature(cls.__init__).parameters}
    return {"output_methods": []} if "output_methods" in accepted else {"save_to_file": False}


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
        self._country = DEFAULT_COUNTRY

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._tracker is not None

    def start(self) -> EnergyTracker:
        """Start measuring.

        Raises:
            RuntimeError: already started (stop it first; a second tracker would leak).
            ValueError: an invalid ``CODECARBON_COUNTRY``.
        """
        if self._tracker is not None:
            raise RuntimeError("EnergyTracker.start() called while it is already measuring; "
                               "call stop() first")
        grid = country()
        os.environ.setdefault("CODECARBON_LOG_LEVEL", "error")
        from codecarbon import OfflineEmissionsTracker  # see _codecarbon_grid_data

        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        self._tracker = OfflineEmissionsTracker(
            project_name=self.name,
            country_iso_code=grid,
            measure_power_secs=self.measure_power_secs,
            log_level="error",
            allow_multiple_runs=True,
            **_no_output_files(OfflineEmissionsTracker),
        )
        self._tracker.start()
        self._country = grid
        return self

    def discard(self) -> None:
        """Stop measuring without a result (e.g. after an interrupted ``fit``)."""
        if self._tracker is not None:
            tracker, self._tracker = self._tracker, None
            tracker.stop()

    def stop(self) -> Energy:
        if self._tracker is None:
            raise RuntimeError("EnergyTracker.stop() called before start()")
        self._tracker.stop()
        data = self._tracker.final_emissions_data
        self.energy = Energy(
            kwh=float(data.energy_consumed),
            kg_co2eq=float(data.emissions),
            seconds=float(data.duration),
            country=self._country,
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
        self.tracker.discard()  # left running by an interrupted fit
        self.tracker.start()

    def on_train_end(self, logs=None):
        self.energy = self.tracker.stop()
        try:
            import wandb  # as in start_run
        except ImportError:  # pragma: no cover - wandb is a dependency
            return
        if wandb.run is not None:
            wandb.run.summary["energy_kwh"] = self.energy.kwh
            wandb.run.summary["emissions_kg_co2eq"] = self.energy.kg_co2eq
