"""Running claims: the plan (one job per distinct trained arm and scale), one training run
per seed and learning rate, results written whole as they finish, and a restart that
skips what is stored.

Runs use NumPy arrays and ``fit`` only (no tf.data), so they run on the Keras JAX backend
without TensorFlow. A job compiles its arm once per process and re-initialises the
weights, the optimiser's state and the dropout streams for every seed and rate. Runs go
seed by seed across all jobs, so a measurement stopped part-way holds whole seeds of
every claim, and ``--workers N`` runs jobs in N processes that share one GPU.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from alexnet_book.claims import store
from alexnet_book.claims.paper import CLAIMS
from alexnet_book.claims.plan import Job, check_seeds, get, plan, runnable, select, split  # noqa: F401
from alexnet_book.claims.registry import Arm, Scale

#: The commands that measure the CPU and the full tiers (results are named after the
#: device and the date, under benchmarks/results/claims/).
CPU_COMMAND = "nice -n 19 python -m alexnet_book.claims --tier cpu"
CPU2_COMMAND = "nice -n 19 python -m alexnet_book.claims --tier cpu2"
GPU_COMMAND = ("KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false "
               "python -m alexnet_book.claims --tier full --part K/8")
#: Pixels added on each side before random crops (28 -> 32 -> 28: the paper's 224 of 256).
CROP_PADDING = 2


# --- one run ----------------------------------------------------------------------------------

_DATA_CACHE: dict = {}
_MODEL_CACHE: dict = {}


def training_data(profile, scale: Scale) -> dict:
    """Training, validation and test arrays for a scale, cached per process."""
    from alexnet_book import data

    key = (profile.name, profile.test_subset, scale.train_images, scale.val_images, scale.inputs)
    if key not in _DATA_CACHE:
        splits = data.course_splits(profile, train_size=scale.train_images)
        x_train, x_val, x_test = splits.centred()
        if scale.inputs == "standardised":
            sd = float(x_train.std())
            x_train, x_val, x_test = x_train / sd, x_val / sd, x_test / sd
        n = (len(x_train) // profile.batch_size) * profile.batch_size  # no partial batch
        _DATA_CACHE[key] = {"x_train": x_train[:n], "y_train": splits.y_train[:n],
                            "x_val": x_val[:scale.val_images], "y_val": splits.y_val[:scale.val_images],
                            "x_test": x_test, "y_test": splits.y_test}
    return _DATA_CACHE[key]


def build(arm_: Arm, profile, scale: Scale | None = None):
    """The uncompiled network of an arm at a profile (and a scale's width).

    Raises:
        ValueError: as the builders in :mod:`alexnet_book.models`.
    """
    from alexnet_book import models

    options = dict(arm_.options)
    width = scale.width if scale is not None else None
    if scale is not None and scale.init is not None:  # the scale's initialisation, in both arms
        options.update(paper_init=scale.init == "paper", he_init=scale.init == "he")
    if arm_.net == "four_layer":
        return models.four_layer_net(width=1.0 if width is None else width, **options)
    if arm_.net == "half_one_tower":
        return models.half_one_tower(profile, width=width, **options)
    if width is not None:
        options["width"] = width
    return models.course_model(profile, **options)


def _compiled(job: Job):
    """The job's compiled model, its optimiser's fresh state and its dropout generators,
    built once per process."""
    key = (job.tier, job.arm.training(), job.scale)
    if key not in _MODEL_CACHE:
        import keras

        from alexnet_book import speed, training

        keras.utils.set_random_seed(0)
        optimizer = training.PaperSGD(learning_rate=job.rates[0], momentum=0.9,
                                      coupled_weight_decay=job.arm.weight_decay)
        jit = True if keras.backend.backend() == "jax" else "auto"
        model = speed.compile_for_speed(build(job.arm, job.profile(), job.scale), optimizer,
                                        mixed_precision="auto", jit_compile=jit).model
        model.optimizer.build(model.trainable_variables)
        fresh = [np.array(v.numpy()) for v in model.optimizer.variables]
        generators = [layer.seed_generator for layer in model.layers
                      if getattr(layer, "seed_generator", None) is not None]
        _MODEL_CACHE[key] = (model, fresh, generators)
    return _MODEL_CACHE[key]


#: A run of a steps claim whose training error over its last STALL_WINDOW steps is still
#: STALL_ERROR or more after STALL_AFTER steps has stalled near chance (90% for ten classes;
#: the report's "did not learn" line is the same 80%) and is stopped: a diverged or dead
#: rate of a grid would otherwise run its whole allowance (1,152 steps at the CPU tier).
STALL_AFTER, STALL_WINDOW, STALL_ERROR = 200, 100, 0.8


def step_errors_callback(batch_size: int, stop_below: float | None, window: int, cap: int | None = None,
                         stall: bool = False):
    """A callback recording the training error of every step from ``fit``'s running
    accuracy (Keras reports the mean since the epoch began; the differences give each
    batch's own). It stops training when the running error over ``window`` steps reaches
    ``stop_below`` (a fraction), after ``cap`` steps, or, with ``stall``, once the run has
    stalled near chance (:data:`STALL_AFTER`)."""
    import keras

    class StepErrors(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.errors: list[float] = []
            self.stopped = False
            self.stalled = False

        def on_epoch_begin(self, epoch, logs=None):
            self._correct = 0

        def on_train_batch_end(self, batch, logs=None):
            seen = (batch + 1) * batch_size
            correct = int(round(float(logs["accuracy"]) * seen))
            self.errors.append(1.0 - (correct - self._correct) / batch_size)
            self._correct = correct
            reached = (stop_below is not None and len(self.errors) >= window
                       and np.mean(self.errors[-window:]) <= stop_below + 1e-12)
            self.stalled = (stall and len(self.errors) >= STALL_AFTER
                            and np.mean(self.errors[-STALL_WINDOW:]) >= STALL_ERROR)
            if reached or self.stalled or (cap is not None and len(self.errors) >= cap):
                self.stopped = True
                self.model.stop_training = True

    return StepErrors()


def steps_to(errors: Sequence[float], threshold: float, window: int) -> int | None:
    """The first step (1-based) at which the mean training error of the last ``window``
    steps is at most ``threshold`` (a fraction), or None if it never is.

    Raises:
        ValueError: window < 1.
    """
    running = running_error(errors, window)
    hits = np.flatnonzero(running <= threshold + 1e-12)
    return int(hits[0]) + window if len(hits) else None


def running_error(errors: Sequence[float], window: int) -> np.ndarray:
    """The mean error of each ``window`` consecutive steps: entry i ends at step i + window
    (1-based), as :func:`steps_to` reads it; empty when fewer steps ran.

    Raises:
        ValueError: window < 1.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window!r}")
    errors = np.asarray(errors, dtype=float)
    if len(errors) < window:
        return np.empty(0)
    return np.convolve(errors, np.ones(window) / window, mode="valid")


def errors(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(error %, mean cross-entropy, correct per image)."""
    correct = probabilities.argmax(axis=1) == labels
    picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
    return 100.0 * (1.0 - correct.mean()), float(-np.log(picked).mean()), correct


def number(value):
    """A JSON-safe value: floats rounded, NaN and infinities (a diverged run) as None."""
    if isinstance(value, (float, np.floating)):
        return round(float(value), 4) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def pack(correct: np.ndarray) -> str:
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def unpack_correct(hex_string: str, n: int) -> np.ndarray:
    """The per-image right/wrong vector stored in a result line's ``metrics.correct``."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(hex_string), dtype=np.uint8))[:n].astype(bool)


@dataclasses.dataclass
class _Trained:
    """What one training run leaves for evaluation."""

    recorder: object
    epochs_run: int
    val_error: list
    val_loss: list
    best: tuple  # (validation error, epoch, weights)
    seconds: float = 0.0
    cap: int | None = None  # the grid's steps so far, where they limited this run


def _train(job: Job, model, fresh, generators, arrays, seed: int, rate: float, cap: int | None) -> _Trained:
    """One run: fresh weights, optimiser state and dropout streams for ``seed``, then the
    epochs of the scale (stopping at the threshold where steps are counted)."""
    from alexnet_book import augment, training

    scale, bs = job.scale, job.profile().batch_size
    import keras

    keras.utils.set_random_seed(seed)
    model.set_weights(build(job.arm, job.profile(), scale).get_weights())  # equal for equal shapes
    for variable, value in zip(model.optimizer.variables, fresh):
        variable.assign(value)
    for index, generator in enumerate(generators):  # the same dropout masks per seed
        generator.state.assign(np.array([1000 * seed + index + 1, 0], "uint32"))
    order_rng = np.random.default_rng([seed, 7])  # the same data order in every arm
    crop_rng = np.random.default_rng([seed, 11])
    counting = [c for c in job.consumers if c.threshold is not None]
    stop = max(c.threshold for c in counting) / 100.0 if scale.stop_at_threshold and counting else None
    window = max((c.window for c in counting), default=1)
    recorder = step_errors_callback(bs, stop, window, cap if stop is not None else None,
                                    stall=stop is not None)
    x_train, y_train = arrays["x_train"], arrays["y_train"]
    trained = _Trained(recorder, 0, [], [], (math.inf, -1, None), cap=cap if stop is not None else None)
    for epoch in range(scale.epochs):
        order = order_rng.permutation(len(x_train))
        x_epoch = x_train[order]
        if job.arm.crops_and_flips:
            x_epoch = augment.random_crops_and_flips(x_epoch, crop_rng, CROP_PADDING)
        model.optimizer.learning_rate = training.stepped_rate(epoch, scale.epochs, rate, scale.drops)
        # a per-step hook makes the device wait every step: only where steps count
        model.fit(x_epoch, y_train[order], batch_size=bs, epochs=1, shuffle=False, verbose=0,
                  callbacks=[recorder] if counting else [])
        trained.epochs_run += 1
        if recorder.stopped:
            break
        if scale.val_images:
            probabilities = model.predict(arrays["x_val"], batch_size=4 * bs, verbose=0)
            val_error, val_loss, _ = errors(probabilities, arrays["y_val"])
            trained.val_error.append(number(val_error))
            trained.val_loss.append(number(val_loss))
            if val_error < trained.best[0]:
                trained.best = (val_error, epoch + 1, model.get_weights())
    return trained


def lrn_activity(model, x: np.ndarray, batch_size: int = 256) -> dict[str, dict[str, float]]:
    """How far each LRN layer of ``model`` is from a constant division, on images ``x``:
    ``alpha * sum(a^2) / k`` over its channel window, for every position and channel of the
    layer's input, as its mean and standard deviation (``{}`` for a model without LRN).
    Where it is far below 1, LRN divides by about ``k^beta``, a constant.
    """
    import keras

    from alexnet_book.layers import LocalResponseNormalization

    out = {}
    for layer in model.layers:
        if not isinstance(layer, LocalResponseNormalization):
            continue
        probe = keras.Model(model.inputs, layer.input)
        a = np.asarray(probe.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
        squares = np.pad(a ** 2, [(0, 0)] * (a.ndim - 1) + [(layer.depth_radius, layer.depth_radius)])
        window = sum(squares[..., i:i + a.shape[-1]] for i in range(2 * layer.depth_radius + 1))
        term = layer.alpha * window / layer.bias
        out[layer.name] = {"mean": float(term.mean()), "sd": float(term.std())}
    return out


#: Training images on which :func:`lrn_activity` is measured after every run of an LRN net.
LRN_SAMPLE = 256


def _evaluate(job: Job, model, arrays, trained: _Trained) -> dict[str, dict]:
    """Metrics per evaluation ("centre", "ten_patch") for the claims the job serves: the
    test and training errors at the end of the schedule where a claim needs them or the
    scale scores validation (then also their gap), and the test error with the weights of
    the best validation epoch."""
    from alexnet_book import augment

    needed = {CLAIMS[c.claim].metric_at(job.tier) for c in job.consumers}
    scored = bool(job.scale.val_images)
    evaluations = {c.evaluation for c in job.consumers}
    eval_batch = 4 * job.profile().batch_size
    metrics: dict = {"epochs_run": trained.epochs_run}
    if "test_error" in needed or scored:
        probabilities = model.predict(arrays["x_test"], batch_size=eval_batch, verbose=0)
        metrics["test_error"], metrics["test_loss"], _ = errors(probabilities, arrays["y_test"])
    if "train_error" in needed or scored:
        probabilities = model.predict(arrays["x_train"], batch_size=eval_batch, verbose=0)
        metrics["train_error"] = errors(probabilities, arrays["y_train"])[0]
    if scored:
        metrics["gap"] = metrics["test_error"] - metrics["train_error"]
    by_evaluation = {"centre": dict(metrics)}
    if trained.best[2] is None or not ({"best_test_error", "ten_patch", "epochs_to_best"} & needed
                                       or scored):
        return by_evaluation
    model.set_weights(trained.best[2])
    for evaluation in sorted(evaluations):
        if evaluation == "ten_patch":
            pad = [(0, 0), (CROP_PADDING, CROP_PADDING), (CROP_PADDING, CROP_PADDING), (0, 0)]
            probabilities = augment.ten_crop_predict(model, np.pad(arrays["x_test"], pad),
                                                     crop_size=arrays["x_train"].shape[1],
                                                     batch_size=eval_batch)
        else:
            probabilities = model.predict(arrays["x_test"], batch_size=eval_batch, verbose=0)
        error, _, correct = errors(probabilities, arrays["y_test"])
        by_evaluation.setdefault(evaluation, dict(metrics)).update(
            best_test_error=error, best_epoch=trained.best[1], correct=pack(correct),
            test_images=len(arrays["y_test"]))
    return by_evaluation


def steps_limit(steps_run: int, allowed: int, cap: int | None, stalled: bool) -> int:
    """The steps a run was allowed, where a run that did not reach the threshold is censored:
    the steps it ran, or for a run stopped as stalled near chance, the steps it would have
    run (the scale's ``allowed``, or the grid's cap when one applied to it)."""
    if not stalled:
        return steps_run
    return min(allowed, cap) if cap else allowed


def _rows(job: Job, seed: int, rate: float, trained: _Trained, by_evaluation: dict, env: dict,
          first: bool, commit: str | None, activity: dict | None = None) -> list[dict]:
    steps_per_epoch = len(training_data(job.profile(), job.scale)["x_train"]) // job.profile().batch_size
    counting = any(c.threshold is not None for c in job.consumers)
    steps_run = len(trained.recorder.errors) if counting else trained.epochs_run * steps_per_epoch
    rows = []
    for consumer in job.consumers:
        m = {k: number(v) for k, v in by_evaluation.get(consumer.evaluation, by_evaluation["centre"]).items()}
        if CLAIMS[consumer.claim].metric_at(job.tier) != "ten_patch":
            m.pop("correct", None)
            m.pop("test_images", None)
        if consumer.threshold is not None:
            m["steps"] = steps_to(trained.recorder.errors, consumer.threshold / 100.0, consumer.window)
            m["steps_run"] = steps_run
            m["steps_limit"] = steps_limit(steps_run, job.scale.epochs * steps_per_epoch, trained.cap,
                                           trained.recorder.stalled)
            m["stalled"] = bool(trained.recorder.stalled)
            m["threshold"] = consumer.threshold
        curves = {"val_error": trained.val_error, "val_loss": trained.val_loss} if job.scale.val_images else {}
        if consumer.threshold is not None:  # each step's error: a threshold can be re-read later
            curves["step_error"] = [round(float(e), 4) for e in trained.recorder.errors]
        rows.append({
            "claim": consumer.claim, "arm": consumer.arm, "seed": seed, "learning_rate": rate,
            "profile": job.tier, "metrics": m, "curves": curves,
            "epochs": round(steps_run / steps_per_epoch, 3) if steps_run else trained.epochs_run,
            "images": steps_run * job.profile().batch_size, "seconds": round(trained.seconds, 2),
            "compile_included": first,
            "shared_with": sorted({c.claim for c in job.consumers} - {consumer.claim}),
            "scale": job.scale_record(),
            "preconditions": measured_preconditions(m, curves, activity or {}),
            "device": env["device"], "backend": env["backend"],
            "versions": env["versions"], "date": env["date"], "commit": commit,
        })
    return rows


def measured_preconditions(metrics: dict, curves: dict, activity: dict) -> dict:
    """What a run measured for the preconditions of :data:`~alexnet_book.claims.registry.PRECONDITIONS`,
    as stored in its line (see :func:`alexnet_book.claims.report.preconditions_of`)."""
    from alexnet_book.claims.report import preconditions_of

    return preconditions_of({"metrics": metrics, "curves": curves, "preconditions": {"lrn_activity": activity}})


def environment() -> dict:
    from alexnet_book import device

    report = device.environment_report()
    versions = {k: report[k] for k in ("keras", "python", "jax", "tensorflow", "torch") if k in report}
    return {"device": report["device"], "backend": report["backend"], "versions": versions,
            "date": report["date"], "gpu": report["gpu"]}


def library_commit() -> str | None:
    """The git commit of the checkout the library runs from (None outside a checkout)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or None


def run_job_seed(job: Job, seed: int, done: set, emit, env: dict, commit: str | None) -> None:
    """Train one job's runs for one seed (every rate of its grid), skipping runs whose rows
    are all in ``done``, and call ``emit(rows, planned_images, label)`` after each."""
    model, fresh, generators = _compiled(job)
    arrays = training_data(job.profile(), job.scale)
    middle = np.median(np.log(job.rates))
    fastest = None  # a grid's best steps so far for this seed: slower runs stop there
    first = True
    for rate in sorted(job.rates, key=lambda r: (abs(math.log(r) - middle), r)):
        label = f"{job.arm.name}, seed {seed}" + (f", lr {rate:g}" if len(job.rates) > 1 else "")
        missing = [c for c in job.consumers if job.key(c, seed, rate) not in done]
        if not missing:
            emit([], job.images_per_run(), label + " (stored)")
            continue
        start = time.perf_counter()
        cap = fastest if len(job.rates) > 1 else None
        trained = _train(job, model, fresh, generators, arrays, seed, rate, cap)
        counting = [c for c in job.consumers if c.threshold is not None]
        if counting and job.scale.stop_at_threshold:
            reached = steps_to(trained.recorder.errors, max(c.threshold for c in counting) / 100.0,
                               max(c.window for c in counting))
            if reached is not None:
                fastest = reached if fastest is None else min(fastest, reached)
        activity = lrn_activity(model, arrays["x_train"][:LRN_SAMPLE])  # the weights at the end
        by_evaluation = _evaluate(job, model, arrays, trained)
        trained.seconds = time.perf_counter() - start
        rows = _rows(job, seed, rate, trained, by_evaluation, env, first, commit, activity)
        first = False
        emit([r for r in rows if store.run_key(r) not in done], job.images_per_run(), label)


def _worker(job: Job, done: set, queue) -> None:
    env, commit = environment(), library_commit()
    for seed in range(job.seeds):
        run_job_seed(job, seed, done, lambda rows, planned, label: queue.put((rows, planned, label)),
                     env, commit)
    queue.put(None)


# --- progress and the whole run -----------------------------------------------------------------

class Progress:
    """A text progress bar over planned training images, with the time left (a line every
    10% when the stream is not a terminal, so logs and notebooks stay short)."""

    def __init__(self, total_images: int, total_runs: int, stream=None, enabled: bool = True):
        self.total, self.runs, self.stream, self.enabled = max(total_images, 1), total_runs, stream, enabled
        self.done_images, self.done_runs, self.trained_images = 0, 0, 0
        self.start, self._last_decile = time.perf_counter(), -1

    def update(self, planned_images: int, label: str, trained: bool = True) -> None:
        self.done_images += planned_images
        self.trained_images += planned_images if trained else 0
        self.done_runs += 1
        if not self.enabled:
            return
        stream = self.stream or sys.stdout
        fraction = min(self.done_images / self.total, 1.0)
        elapsed = time.perf_counter() - self.start
        left_images = self.total - self.done_images
        rate = self.trained_images / elapsed if elapsed > 0 and self.trained_images else float("nan")
        left = left_images / rate if rate == rate and rate > 0 else float("nan")
        bar = "#" * round(24 * fraction) + "-" * (24 - round(24 * fraction))
        left_text = f"~{left:5.0f} s left" if math.isfinite(left) else "time left: after a trained run"
        text = (f"[{bar}] {fraction:4.0%} {self.done_runs}/{self.runs} runs, "
                f"{elapsed:5.0f} s, {left_text}  {label}")
        if getattr(stream, "isatty", lambda: False)():
            stream.write("\r" + text[:150].ljust(150) + ("\n" if self.done_runs == self.runs else ""))
        elif int(fraction * 10) > self._last_decile or self.done_runs == self.runs:
            self._last_decile = int(fraction * 10)
            stream.write(text + "\n")
        stream.flush()


def default_out(env: dict | None = None, tier: str = "full") -> Path:
    """``benchmarks/results/claims/claims-<tier>-<device>-<date>.jsonl`` in the checkout (the
    current folder when the library is not installed from one): the newest such file of
    this tier and device if there is one, so a measurement continues across days, else a
    new one dated today."""
    from alexnet_book import results

    env = env or environment()
    slug = re.sub(r"[^a-z0-9]+", "-", env["device"].lower()).strip("-")[:40] or "device"
    folder = results.local_results_dir()
    folder = folder / "claims" if folder is not None else Path(".")
    started = sorted(folder.glob(f"claims-{tier}-{slug}-????-??-??.jsonl"))
    return started[-1] if started else folder / f"claims-{tier}-{slug}-{env['date']}.jsonl"


def stored_keys(path: Path, stream=None) -> set:
    """The run keys already in a results file (a cut last line is set aside and reported).

    Raises:
        ResultsFormatError: a malformed line (file and line named).
    """
    if not path.exists():
        return set()
    note = store.repair_tail(path)
    if note:
        print(note, file=stream or sys.stderr)
    rows, _ = store.read_file(path)
    return {store.run_key(r) for r in rows}


def run(tier: str = "quick", only: Iterable[str] | None = None, seeds: int | None = None,
        out: str | os.PathLike | None = None, workers: int = 1, progress: bool = True,
        stream=None, resume: bool = True, part: tuple[int, int] | None = None) -> list[dict]:
    """Run claims and return one result dict per (claim, arm, seed, learning rate) run
    now, appending each as a JSON line to ``out`` when given; with ``resume``, runs already
    in ``out`` are skipped (and said so).

    Args:
        part: ``(k, n)``: run only the k-th of n parts of the plan (:func:`split`).

    Raises:
        ValueError: an unknown tier, seeds or workers < 1, a part outside 1..n.
        UnknownClaimError: an unknown or untestable claim id, or one without this tier.
        OSError: ``out`` cannot be written (checked before anything trains).
        ResultsFormatError: ``out`` holds a malformed line (file and line named).
    """
    jobs = plan(tier, only, seeds)
    chosen = None
    if part is not None:
        k, n = part
        if not (isinstance(k, int) and isinstance(n, int) and 1 <= k <= n):
            raise ValueError(f"part must be k of n with 1 <= k <= n, got {part!r}")
        chosen = split(jobs, n)[k - 1]
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    path = store.check_writable(out) if out is not None else None
    done = stored_keys(path, stream) if path is not None and resume else set()
    total_runs = sum(j.runs() for j in jobs)
    stored = sum(job.key(c, s, r) in done for job in jobs for s in range(job.seeds) for r in job.rates
                 for c in job.consumers[:1])
    if stored and progress:
        print(f"{stored} of {total_runs} runs already stored in {path}: skipping them",
              file=stream or sys.stdout, flush=True)
    bar = Progress(sum(j.images() for j in jobs), total_runs, stream, progress)
    collected: list[dict] = []

    def emit(rows, planned, label):
        collected.extend(rows)
        if path is not None and rows:
            store.append(path, rows)
        bar.update(planned, label, trained=not label.endswith("(stored)"))

    if chosen is not None:  # the other parts count as done for the progress bar
        bar.total = max(sum(jobs[i].images_per_run() * len(jobs[i].rates) for i, _ in chosen), 1)
        bar.runs = sum(len(jobs[i].rates) for i, _ in chosen)
    if workers == 1:
        env, commit = environment(), library_commit()
        for seed in range(max(j.seeds for j in jobs)):  # seed by seed across every claim
            for index, job in enumerate(jobs):
                if seed < job.seeds and (chosen is None or (index, seed) in chosen):
                    run_job_seed(job, seed, done, emit, env, commit)
        return collected
    if chosen is not None:
        raise ValueError("part runs with one worker (--workers 1): split the GPU by parts, "
                         "or the parts by workers, not both")
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # the processes share the GPU
    with context.Manager() as manager:
        queue = manager.Queue()
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(jobs)), mp_context=context) as pool:
            futures = [pool.submit(_worker, job, done, queue) for job in jobs]
            finished = 0
            while finished < len(jobs):
                try:
                    item = queue.get(timeout=2)
                except Exception as empty:  # queue.Empty through the manager: a failed worker?
                    for future in futures:
                        if future.done() and future.exception() is not None:
                            raise future.exception() from empty
                    continue
                if item is None:
                    finished += 1
                else:
                    emit(*item)
            for future in futures:
                future.result()
    return collected
