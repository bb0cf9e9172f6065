import numpy as np
import pytest

from alexnet_book import tracking


def _tiny_fit(callbacks):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    y = np.arange(64) % 3
    return model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=callbacks)


def test_mode_is_offline_without_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.delenv("NETRC", raising=False)
    assert tracking.wandb_mode() == "offline"
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert tracking.wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert tracking.wandb_mode() == "disabled"


def test_netrc_counts_as_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    netrc_file = tmp_path / ".netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc_file))
    assert tracking.wandb_credentials_present()


def test_offline_run_logs_metrics_and_energy(runs_in_tmp, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    run = tracking.start_run(name="test", group="tests", config={"lr": 0.01})
    energy = tracking.EnergyCallback("test")
    history = _tiny_fit([tracking.metrics_logger(), energy])
    summary = dict(run.summary)
    hint = tracking.sync_hint(run)
    run.finish()
    assert run.settings.mode == "offline"
    assert (runs_in_tmp / "wandb").is_dir()
    assert any(p.name.startswith("offline-run-") for p in (runs_in_tmp / "wandb").iterdir())
    assert summary["epoch/loss"] == pytest.approx(history.history["loss"][-1], rel=1e-5)
    assert summary["energy_kwh"] == energy.energy.kwh > 0
    assert summary["emissions_kg_co2eq"] == energy.energy.kg_co2eq > 0
    assert hint.startswith("W&B: logged offline; upload later with `wandb sync runs/wandb/offline-run-")


def test_disabled_mode_logs_nothing(runs_in_tmp, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = tracking.start_run(name="off")
    _tiny_fit([tracking.metrics_logger()])
    assert tracking.sync_hint(run).startswith("W&B: disabled")
    run.finish()
    assert not (runs_in_tmp / "wandb").exists() or not any(
        p.name.startswith("offline-run-") for p in (runs_in_tmp / "wandb").iterdir()
    )


def test_energy_tracker_context_manager(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CODECARBON_COUNTRY", "fra")
    with tracking.EnergyTracker("ctx") as tracker:
        sum(i * i for i in range(200_000))
    assert tracker.energy.kwh > 0 and tracker.energy.kg_co2eq > 0
    assert tracker.energy.country == "FRA"
    assert "kWh" in tracker.energy.describe()
    assert not (tmp_path / "emissions.csv").exists()


def test_stop_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="before start"):
        tracking.EnergyTracker().stop()


def test_default_country_is_set_in_one_place(monkeypatch):
    monkeypatch.delenv("CODECARBON_COUNTRY", raising=False)
    assert tracking.country() == tracking.DEFAULT_COUNTRY
