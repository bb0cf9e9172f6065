import dataclasses

import pytest

from alexnet_book import device, profile


def test_quick_and_full_exist_and_are_frozen():
    quick, full = profile.get("quick"), profile.get("full")
    assert quick.image_size < full.image_size == 227
    assert quick.train_subset < full.train_subset == 50_000
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.epochs = 100


def test_environment_variable_overrides(monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "full")
    assert profile.current().name == "full"
    monkeypatch.setenv("ALEXNET_PROFILE", " Quick ")
    assert profile.current().name == "quick"


def test_default_follows_gpu(monkeypatch):
    monkeypatch.delenv("ALEXNET_PROFILE", raising=False)
    monkeypatch.setattr(device, "gpu_available", lambda: True)
    assert profile.current().name == "full"
    monkeypatch.setattr(device, "gpu_available", lambda: False)
    assert profile.current().name == "quick"


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "huge")
    with pytest.raises(ValueError, match=r"ALEXNET_PROFILE must be one of full, quick, smoke, got 'huge'"):
        profile.current()


def test_describe_is_one_stable_line():
    line = profile.get("quick").describe()
    assert line.startswith("profile=quick: images 67x67") and "\n" not in line



def _gpus_seen_by_the_backend() -> list[str]:
    """The GPUs the backend itself lists (an independent reading of the machine)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform == "gpu"]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def test_device_report_says_what_this_machine_has():
    """On a CPU machine and on a GPU one, with any backend: the line names the backend Keras
    runs and whether the backend sees a GPU, as the backend itself lists them."""
    import keras

    backend, gpus = keras.backend.backend(), _gpus_seen_by_the_backend()
    line = device.describe()
    assert line.startswith(f"Keras backend: {backend}; compute: ")
    assert line.endswith("CPU only") == (not gpus) and (device.gpu() is None) == (not gpus)
    if not gpus:
        assert device.gpu_compute_capability() is None
    report = device.environment_report()
    assert report["gpu"] is bool(gpus) and report["backend"] == backend
    assert report["device"] == device.cpu_name() and report["tensorflow"]
    for key in ("date", "keras", "python", "cpu_cores"):
        assert report[key], key


def test_smoke_keeps_the_full_profiles_shapes_on_a_handful_of_batches():
    full, smoke = profile.get("full"), profile.get("smoke")
    assert (smoke.image_size, smoke.width) == (full.image_size, full.width)
    assert smoke.train_subset // smoke.batch_size <= 4 and smoke.epochs == 1
    assert not smoke.checks_learning and full.checks_learning and profile.get("quick").checks_learning
    assert smoke.timed_steps < profile.get("quick").timed_steps <= full.timed_steps
    assert smoke.seeds == 1 < profile.get("quick").seeds == full.seeds
    # chapter 4's overfitting experiment: one epoch runs its code path; longer than a chapter's
    # main run where it must overfit
    assert smoke.overfitting_epochs == 1
    for name in ("quick", "full"):
        assert profile.get(name).overfitting_epochs > profile.get(name).epochs, name


def test_the_full_profile_on_a_cpu_says_what_it_costs_before_anything_runs(monkeypatch):
    monkeypatch.setenv("ALEXNET_PROFILE", "full")
    monkeypatch.setattr(profile.device, "gpu_available", lambda: False)
    with pytest.warns(profile.FullProfileOnCPUWarning, match=r"expect a GPU runtime .* trains 500,000 "
                                                             r"images at 227x227; .* about \d+ hours"):
        assert profile.current().name == "full"
    monkeypatch.setattr(profile.device, "gpu_available", lambda: True)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert profile.current().name == "full"  # on a GPU: no warning


def test_each_profile_names_a_claims_tier_to_run_live():
    from alexnet_book.claims import registry

    tiers = {name: p.live_claims_tier for name, p in profile.PROFILES.items()}
    assert tiers == {"quick": "quick", "full": "quick", "smoke": "smoke"}
    assert set(tiers.values()) <= set(registry.TIERS)
