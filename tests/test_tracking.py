import http.server
import os
import socket
import threading
import time

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


# Faults (issue 16): bad settings, W&B without network, codecarbon misuse.


@pytest.mark.parametrize("value", ["bogus", "Online!"])
def test_invalid_wandb_mode_is_a_clear_error_before_any_wait(monkeypatch, value):
    monkeypatch.setenv("WANDB_MODE", value)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=f"WANDB_MODE must be one of online, offline, disabled.*got '{value}'"):
        tracking.start_run(name="bad-mode")
    assert time.perf_counter() - start < 1.0


@pytest.fixture
def refusing_url():
    """A local port with nothing listening: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def silent_url():
    """A local port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def answering_url():
    """A local HTTP server that answers every request (404)."""
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("url_fixture", ["refusing_url", "silent_url"])
def test_unreachable_server_is_detected_within_seconds(request, monkeypatch, url_fixture):
    monkeypatch.setenv("WANDB_BASE_URL", request.getfixturevalue(url_fixture))
    start = time.perf_counter()
    assert not tracking.wandb_reachable()
    assert time.perf_counter() - start < tracking.REACHABILITY_TIMEOUT + 1.0


def test_answering_server_is_reachable(monkeypatch, answering_url):
    monkeypatch.setenv("WANDB_BASE_URL", answering_url)
    assert tracking.wandb_reachable()


def _online_with_a_key(monkeypatch, tmp_path, url):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", url)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tracking.wandb_mode() == "online"


def test_saved_key_without_network_logs_offline_with_one_line(runs_in_tmp, monkeypatch, capsys,
                                                              silent_url):
    _online_with_a_key(monkeypatch, runs_in_tmp.parent, silent_url)
    start = time.perf_counter()
    run = tracking.start_run(name="no-network")
    seconds = time.perf_counter() - start
    run.finish()
    assert run.settings.mode == "offline"
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "did not answer within 3 s; logging offline instead" in lines[0]
    assert seconds < tracking.INIT_TIMEOUT  # offline at once: no wait for an online start


def test_online_start_failure_falls_back_to_offline(runs_in_tmp, monkeypatch, capsys, answering_url):
    import wandb

    _online_with_a_key(monkeypatch, runs_in_tmp.parent, answering_url)
    real_init = wandb.init
    modes = []

    def init(**kwargs):
        modes.append(kwargs["mode"])
        assert kwargs["settings"].init_timeout == tracking.INIT_TIMEOUT
        if kwargs["mode"] == "online":
            raise wandb.errors.CommError("Run initialization has timed out")
        return real_init(**kwargs)

    monkeypatch.setattr(wandb, "init", init)
    run = tracking.start_run(name="flaky")
    run.finish()
    assert modes == ["online", "offline"] and run.settings.mode == "offline"
    assert "the online run did not start (CommError" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["XYZ", "", "  ", "US", "FR1"])
def test_invalid_country_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("CODECARBON_COUNTRY", value)
    with pytest.raises(ValueError, match=f"CODECARBON_COUNTRY must be an ISO 3166-1 alpha-3 .*got '{value}'"):
        tracking.country()
    tracker = tracking.EnergyTracker("bad-country")
    with pytest.raises(ValueError, match="CODECARBON_COUNTRY"):
        tracker.start()
    assert not tracker.running


def test_starting_a_tracker_twice_is_an_error_not_a_leak(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODECARBON_COUNTRY", raising=False)
    tracker = tracking.EnergyTracker("twice").start()
    first = tracker._tracker
    with pytest.raises(RuntimeError, match="already measuring; call stop"):
        tracker.start()
    assert tracker._tracker is first
    assert tracker.stop().kwh >= 0 and not tracker.running


def test_energy_callback_restarts_after_an_interrupted_fit(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODECARBON_COUNTRY", raising=False)
    callback = tracking.EnergyCallback("interrupted")
    callback.on_train_begin()  # fit interrupted: on_train_end never ran
    stale = callback.tracker._tracker
    callback.on_train_begin()
    assert callback.tracker._tracker is not stale
    callback.on_train_end()
    assert callback.energy.country == tracking.DEFAULT_COUNTRY


def test_epoch_log_prints_one_line_per_epoch(capsys):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((16, 4))
    model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0, validation_data=(x, x[:, :1]),
              callbacks=[tracking.EpochLog()])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    for epoch, line in enumerate(lines, start=1):
        assert line.startswith(f"epoch {epoch}/2 (") and "s): loss " in line and ", val_loss " in line


# Faults, second round (issue 26): codes codecarbon has no data for, W&B modes as wandb reads them.


def test_country_without_codecarbon_data_is_refused_naming_the_list(monkeypatch):
    import json
    from importlib.resources import files

    table = files("codecarbon") / "data" / "private_infra" / "global_energy_mix.json"
    codes = {code for code in json.loads(table.read_text()) if not code.startswith("_")}
    assert tracking.codecarbon_countries() == codes and {"USA", "FRA", "DEU", "GBR"} <= codes
    monkeypatch.setenv("CODECARBON_COUNTRY", "ATA")  # valid ISO 3166-1, no grid data
    with pytest.raises(ValueError) as error:
        tracking.country()
    message = str(error.value)
    assert "got 'ATA'; ATA is Antarctica's ISO code, but codecarbon has no grid data for it" in message
    assert f"the {len(codes)} codes in codecarbon " in message
    assert "data/private_infra/global_energy_mix.json" in message
    tracker = tracking.EnergyTracker("antarctica")
    with pytest.raises(ValueError, match="no grid data"):
        tracker.start()
    assert not tracker.running
    small = sorted(codes - {"USA", "FRA", "DEU", "GBR"})[0]  # whatever else this codecarbon knows
    for code in ("deu", " gbr ", small):  # any case
        monkeypatch.setenv("CODECARBON_COUNTRY", code)
        assert tracking.country() == code.strip().upper()


@pytest.mark.parametrize("value, normalised", [("Offline", "offline"), (" OFFLINE ", "offline"),
                                               ("dryrun", "offline"), ("", None)])
def test_wandb_mode_in_another_spelling_runs_offline_and_says_so(runs_in_tmp, monkeypatch, value,
                                                                  normalised):
    monkeypatch.setenv("WANDB_MODE", value)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(runs_in_tmp.parent))  # no credentials: blank means offline
    monkeypatch.delenv("NETRC", raising=False)
    assert tracking.wandb_mode() == "offline"
    run = tracking.start_run(name="spelling")  # before the fix: pydantic's ValidationError
    hint = tracking.sync_hint(run)
    run.finish()
    assert run.settings.mode == "offline"
    assert os.environ.get("WANDB_MODE") == normalised  # as wandb accepts it
    assert hint.startswith("W&B: logged offline; upload later with `wandb sync runs/wandb/offline-run-")


def test_sync_hint_reports_what_the_run_did():
    from types import SimpleNamespace

    def run(mode, url=None):
        return SimpleNamespace(settings=SimpleNamespace(mode=mode), url=url, disabled=False,
                               dir="/tmp/wandb/offline-run-1/files")

    assert tracking.sync_hint(run("dryrun")).startswith("W&B: logged offline; upload later")
    assert tracking.sync_hint(run("online", "https://wandb.ai/a/b/runs/c")) == \
        "W&B: logged online at https://wandb.ai/a/b/runs/c"
    hint = tracking.sync_hint(run("shared"))  # before the fix: "logged online at None"
    assert "None" not in hint and hint.startswith("W&B: the run (mode 'shared') has no web page")
    assert tracking.sync_hint(run("disabled")).startswith("W&B: disabled")
    assert tracking.sync_hint(None).startswith("W&B: disabled")


@pytest.mark.parametrize("value", ["Run", "DRYRUN"])
def test_old_wandb_mode_names_read_as_the_new_ones(monkeypatch, value):
    monkeypatch.setenv("WANDB_MODE", value)
    assert tracking.wandb_mode() == {"run": "online", "dryrun": "offline"}[value.lower()]
