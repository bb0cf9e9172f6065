import keras
import numpy as np
import pytest

from alexnet_book import device, speed, tracking, training


def _tiny_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(hidden))


def test_throughput_callback_counts_training_images_per_second():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    meter = speed.ThroughputCallback(batch_size=8)
    x, y = np.ones((64, 4)), np.ones((64, 1))
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[meter],
                        validation_data=(x, y))
    assert len(meter.images_per_second) == 3 and all(r > 0 for r in meter.images_per_second)
    assert meter.images_per_second[1] == pytest.approx(64 / meter.epoch_seconds[1])
    assert meter.steady_state == pytest.approx(np.mean(meter.images_per_second[1:]))
    assert meter.first_epoch == meter.images_per_second[0]
    assert history.history["images_per_second"] == meter.images_per_second
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
            speed.ThroughputCallback(bad)


def test_fit_images_per_second_is_the_steady_state_of_fit(monkeypatch):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    fits, meters = [], []
    original_fit, original_meter = model.fit, speed.ThroughputCallback

    def recording_fit(x, y, **kwargs):
        fits.append((len(x), kwargs))
        return original_fit(x, y, **kwargs)

    def recording_meter(batch_size):
        meters.append(original_meter(batch_size))
        return meters[-1]

    monkeypatch.setattr(model, "fit", recording_fit)
    monkeypatch.setattr(speed, "ThroughputCallback", recording_meter)
    x, y = np.ones((10, 4)), np.ones((10, 1))  # fewer rows than 3 steps of 8: repeated
    rate = speed.fit_images_per_second(model, x, y, batch_size=8, steps=3)
    (rows, kwargs), = fits
    assert rows == 24 and kwargs["epochs"] == 2 and kwargs["batch_size"] == 8
    assert rate == meters[0].steady_state == meters[0].images_per_second[1] > 0
    for bad, message in (({"batch_size": 0}, "batch_size must be"), ({"steps": 1.5}, "steps must be"),
                         ({"x": x[:0], "y": y[:0]}, "same number of rows"),
                         ({"y": y[:3]}, "got 10 and 3")):
        with pytest.raises(ValueError, match=message):
            speed.fit_images_per_second(model, **{"x": x, "y": y, "batch_size": 8, **bad})


def test_throughput_callback_excludes_validation_time():
    class SlowValidation(keras.callbacks.Callback):
        def on_test_end(self, logs=None):
            import time

            time.sleep(1.0)

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    meter = speed.ThroughputCallback(batch_size=8)
    x, y = np.ones((16, 4)), np.ones((16, 1))
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, validation_data=(x, y),
              callbacks=[meter, SlowValidation()])
    # With validation counted, every epoch would last over 1 s; the fastest epoch after the
    # compiling one shows it is not (a busy machine can still slow one epoch down).
    assert min(meter.epoch_seconds[1:]) < 1.0


def _course_callbacks():
    return [speed.ThroughputCallback(8), training.paper_recipe()[1][0],
            training.step_schedule(4), tracking.EnergyCallback("t"), tracking.EpochLog()]


#: The hooks Keras calls after every step; a callback that defines one makes fit wait for
#: each step's results before dispatching the next (Keras' CallbackList, on the thread-safe
#: backends the GPU benchmarks use): a hook cost 29% on a GPU.
PER_STEP_HOOKS = tuple(f"on_{mode}batch_{when}" for mode in ("", "train_", "test_", "predict_")
                       for when in ("begin", "end"))


def per_step_hooks(callback: keras.callbacks.Callback) -> list[str]:
    """The per-step hooks a callback defines (its own, or given as functions), read from the
    public Callback class: a hook is the default when it is Callback's own method."""
    defined = []
    for name in PER_STEP_HOOKS:
        hook = getattr(callback, name)
        if getattr(hook, "__func__", None) is not getattr(keras.callbacks.Callback, name):
            defined.append(name)
    return defined


@pytest.mark.parametrize("index", range(5))
def test_course_callbacks_keep_fit_asynchronous(index):
    callback = _course_callbacks()[index]
    assert per_step_hooks(callback) == [], f"{type(callback).__name__} forces a sync after every step"


def test_the_per_step_hook_check_can_fail():
    class EveryStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    assert per_step_hooks(EveryStep()) == ["on_train_batch_end"]
    given = keras.callbacks.LambdaCallback(on_batch_end=lambda batch, logs: None)
    assert per_step_hooks(given) == ["on_batch_end"]
    assert per_step_hooks(keras.callbacks.History()) == []


def test_images_per_second_times_the_steps_and_synchronises():
    calls, synced = [], []

    def step():
        calls.append(1)
        return len(calls)

    rate = speed.images_per_second(step, images_per_step=32, steps=5, warmup=3,
                                   synchronise=synced.append)
    assert len(calls) == 8 and synced == [3, 8] and rate > 0
    for kwargs, message in (({"images_per_step": 0}, "images_per_step must be >= 1"),
                            ({"images_per_step": 4, "steps": 0}, "steps must be >= 1"),
                            ({"images_per_step": 4, "warmup": -1}, "warmup must be >= 0")):
        with pytest.raises(ValueError, match=message):
            speed.images_per_second(step, **kwargs)


def test_choose_precision_follows_the_compute_capability(monkeypatch):
    monkeypatch.setattr(device, "gpu_compute_capability", lambda: None)
    assert speed.choose_precision() == "float32"
    monkeypatch.setattr(device, "gpu_compute_capability", lambda: (9, 0))
    assert speed.choose_precision() == "mixed_bfloat16"
    monkeypatch.setattr(device, "gpu_compute_capability", lambda: (7, 5))
    assert speed.choose_precision() == "mixed_float16"


@pytest.mark.parametrize("policy, compute", [("mixed_bfloat16", "bfloat16"),
                                             ("mixed_float16", "float16")])
def test_compile_for_speed_sets_precision_and_loss_scaling(policy, compute):
    model = _tiny_model()
    fast, chosen, jit = speed.compile_for_speed(model, keras.optimizers.SGD(0.01),
                                                mixed_precision=policy, jit_compile=False)
    assert chosen == policy and jit is False
    assert fast.get_layer("hidden").compute_dtype == compute
    assert fast.get_layer("out").compute_dtype == "float32"
    for a, b in zip(fast.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert isinstance(fast.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    x = np.random.default_rng(0).random((16, 4)).astype("float32")
    fast.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    assert fast.predict(x, verbose=0).dtype == np.float32


def test_compile_for_speed_reports_auto_choices_on_the_cpu():
    compiled = speed.compile_for_speed(_tiny_model(), keras.optimizers.SGD(0.01))
    assert compiled.precision == "float32" and compiled.jit_compile is False
    assert compiled.model.get_layer("hidden").compute_dtype == "float32"


def test_auto_jit_compile_is_on_for_jax_and_gpus(monkeypatch):
    assert speed.auto_jit_compile() is False  # TensorFlow on this CPU
    monkeypatch.setattr(device, "gpu_available", lambda: True)
    assert speed.auto_jit_compile() is True
    monkeypatch.setattr(device, "gpu_available", lambda: False)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert speed.auto_jit_compile() is True


def test_compile_for_speed_rejects_unknown_settings():
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        speed.compile_for_speed(_tiny_model(), keras.optimizers.SGD(), mixed_precision="fp8")
    with pytest.raises(ValueError, match="jit_compile must be True, False or 'auto', got 'yes'"):
        speed.compile_for_speed(_tiny_model(), keras.optimizers.SGD(), jit_compile="yes")
    with pytest.raises(ValueError, match="policy must be"):
        speed.with_precision(_tiny_model(), "int8")


def test_throughput_callback_waits_for_the_last_step_before_reading_the_clock():
    """On JAX, fit reaches validation while dispatched steps still run; the callback must
    wait for the last step (its optimizer step counter) or it times only the dispatch."""
    import time
    from types import SimpleNamespace

    class Pending:  # a step counter whose step is still running on the device
        def __array__(self, dtype=None, copy=None):
            time.sleep(0.2)
            return np.array(4)

    for with_validation in (True, False):
        meter = speed.ThroughputCallback(8)
        meter.set_model(SimpleNamespace(optimizer=SimpleNamespace(iterations=Pending())))
        meter.set_params({"steps": 4})
        meter.on_epoch_begin(0)
        if with_validation:
            meter.on_test_begin()
        meter.on_epoch_end(0)
        assert meter.epoch_seconds[0] >= 0.2, with_validation


def test_device_centring_equals_data_centre_in_any_precision(tmp_path):
    from keras_checks import assert_survives_save_and_load

    from alexnet_book import data

    images = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    mean = data.mean_image(images)
    model = keras.Sequential([keras.Input((28, 28), dtype="uint8"),
                              speed.DeviceCentring(mean, name="centre"),
                              keras.layers.Flatten(), keras.layers.Dense(3, name="out")])
    fast = speed.compile_for_speed(model, keras.optimizers.SGD(), mixed_precision="mixed_bfloat16").model
    centre = fast.get_layer("centre")
    assert centre.compute_dtype == "float32" and fast.get_layer("out").compute_dtype == "float32"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(centre(images)), data.centre(images, mean))
    assert_survives_save_and_load(model, images, tmp_path)
    colour = np.zeros((4, 4, 3), "float32")
    assert speed.DeviceCentring(colour).compute_output_shape((None, 4, 4, 3)) == (None, 4, 4, 3)
    with pytest.raises(ValueError, match=r"mean must be one image, \(h, w\) or \(h, w, c\), got shape \(4,\)"):
        speed.DeviceCentring(np.zeros(4))
    with pytest.raises(ValueError, match=r"images must have the mean's shape \(28, 28\)"):
        speed.DeviceCentring(mean)(np.zeros((2, 27, 27), np.uint8))
