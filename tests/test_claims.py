"""The claims lab (issue 12): the registry, the runner's pieces, the analysis on synthetic
results with known answers, the stored results files, and the command line on the JAX
backend without TensorFlow."""

import dataclasses
import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from alexnet_book import claims, models, profile, results, stats

REPO = "https://github.com/alexnet-book/alexnet-from-paper-to-practice"

#: Every number the paper gives for an effect, in the registry's units.
PAPER_NUMBERS = {"relu_tanh": 6.0, "towers": -1.7, "lrn": -1.4, "lrn_four_layer": -2.0,
                 "overlapping_pool": -0.4, "ten_patch": -1.5, "dropout_convergence": 2.0,
                 "depth": 2.0, "pca_colour": -1.0, "ensemble": -1.8}


# --- the registry ---------------------------------------------------------------------------

def test_every_numbered_claim_of_the_paper_has_a_row():
    for claim_id, value in PAPER_NUMBERS.items():
        assert claims.get(claim_id).paper_value == value, claim_id
    qualitative = {"crops_flips", "dropout_overfitting", "weight_decay", "init_bias_one",
                   "colour_towers", "two_gpu_time"}
    assert qualitative <= set(claims.CLAIMS)
    assert {c.id for c in claims.CLAIMS.values() if not c.of_the_paper} == {"batchnorm", "init_glorot"}


def test_registry_rows_are_complete_and_consistent():
    for c in claims.CLAIMS.values():
        assert c.title and c.quote and "section" in c.place, c.id
        assert c.direction in (-1, 1)
        if not c.testable:
            assert c.baseline is None and c.variant is None and c.scale("full") is None
            continue
        assert c.metric in claims.METRICS and c.design
        assert c.baseline.name != c.variant.name
        full = c.scale("full")
        assert full is not None and full.seeds >= 5, f"{c.id}: the full profile needs >= 5 seeds"
        quick = c.scale("quick")
        assert quick is None or quick.seeds >= 3
        if c.paper_value is not None:
            sign = np.sign(np.log(c.paper_value) if c.metric == "steps" else c.paper_value)
            assert sign == c.direction, f"{c.id}: the paper's value and direction disagree"
        if c.metric == "steps":
            assert all(c.threshold_at(p) for p in ("quick", "full") if c.scale(p))


def test_untestable_rows_stay_with_their_reason():
    for claim_id in ("pca_colour", "colour_towers"):
        claim = claims.get(claim_id)
        assert not claim.testable and "greyscale" in claim.untestable
    assert claims.runnable("quick") == ["relu_tanh", "crops_flips", "ten_patch"]
    assert "pca_colour" not in claims.runnable("full")


def test_bad_ids_profiles_and_seeds_name_the_valid_choices():
    with pytest.raises(claims.UnknownClaimError,
                       match=r"unknown claim 'nope'; valid claims: relu_tanh, towers"):
        claims.get("nope")
    with pytest.raises(claims.UnknownClaimError, match=r"'towers' has no quick scale; claims that run at "
                                                       r"quick: relu_tanh, crops_flips, ten_patch"):
        claims.select("quick", ["towers"])
    with pytest.raises(claims.UnknownClaimError, match=r"'pca_colour' cannot be tested here \(.*greyscale"):
        claims.select("full", ["pca_colour"])
    with pytest.raises(claims.UnknownClaimError, match="no claim given"):
        claims.select("quick", [])
    with pytest.raises(ValueError, match=r"profile must be one of quick, full.*, got 'fast'"):
        claims.plan("fast")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=r"seeds must be an integer >= 1"):
            claims.plan("quick", seeds=bad)
    with pytest.raises(ValueError, match=r"workers must be an integer >= 1, got 0"):
        claims.run("quick", ["relu_tanh"], workers=0)


def test_the_command_line_rejects_bad_input_with_the_valid_choices(capsys):
    for argv, message in ((["--only", "nope"], "valid claims: relu_tanh"),
                          (["--profile", "fast"], "invalid choice: 'fast' (choose from"),
                          (["--profile", "quick", "--seeds", "0"], "seeds must be an integer >= 1")):
        with pytest.raises(SystemExit) as exit_info:
            claims.main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_equal_arms_at_an_equal_scale_run_once():
    jobs = claims.plan("full")
    keys = [(j.arm.training(), j.scale) for j in jobs]
    assert len(keys) == len(set(keys))
    served = {j.arm.name: {c.claim for c in j.consumers} for j in jobs if j.arm.net == "alexnet"
              and j.scale == claims.MAIN[0][1]}
    assert served["paper's AlexNet"] == {"lrn", "batchnorm", "overlapping_pool", "weight_decay",
                                         "init_glorot", "depth"}
    crops = [j for j in jobs if j.arm.crops_and_flips]
    assert len(crops) == 1 and {c.claim for c in crops[0].consumers} == {"crops_flips", "ten_patch"}
    assert {c.evaluation for c in crops[0].consumers} == {"centre", "ten_patch"}
    assert [j.seeds for j in claims.plan("full", seeds=7)] == [7] * len(jobs)


# --- the networks and the pieces of a run ---------------------------------------------------

def test_arms_of_equal_shape_start_from_equal_weights_per_seed():
    quick, lrn = profile.get("quick"), claims.get("lrn")

    def weights(side, seed):
        keras.utils.set_random_seed(seed)
        return claims.build(side, quick).get_weights()

    without, with_lrn = weights(lrn.baseline, 3), weights(lrn.variant, 3)
    assert all(np.array_equal(a, b) for a, b in zip(without, with_lrn))
    assert not np.array_equal(weights(lrn.variant, 4)[0], with_lrn[0])


def test_every_testable_arm_builds():
    quick = profile.get("quick")
    for claim in claims.CLAIMS.values():
        for side in claim.arms():
            scale = claim.scale("quick") or claim.scale("full")
            model = claims.build(side, quick, dataclasses.replace(scale, width=None)
                                 if side.net != "four_layer" else scale)
            assert model.output_shape == (None, 10), (claim.id, side.name)
    no_conv3 = claims.build(claims.get("depth").variant, quick)
    assert "conv3" not in {layer.name for layer in no_conv3.layers}
    zero = claims.build(claims.get("init_bias_one").baseline, quick)
    biases = [keras.ops.convert_to_numpy(layer.bias) for layer in zero.layers
              if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    assert len(biases) == 8 and not any(np.any(b) for b in biases)  # conv1-5, fc6-8


def test_the_one_tower_net_honours_the_papers_footnote():
    full = profile.get("full")
    half = claims.half_one_tower(full)
    convs = [layer.filters for layer in half.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [48, 128, 192, 192, 256]  # conv5 not halved
    assert half.get_layer("fc6").units == half.get_layer("fc7").units == 4096  # nor the dense layers
    two = models.course_model(full, towers=2)
    assert two.get_layer("conv5").filters == 256 and two.get_layer("conv5").groups == 2
    # "bigger than 'half the size' of the two-GPU net"
    assert half.count_params() > two.count_params() / 2


def test_the_four_layer_net():
    net = claims.four_layer_net("tanh", norm="lrn", paper_init=True)
    weighted = [layer for layer in net.layers if layer.weights]
    assert len(weighted) == 4 and [layer.filters for layer in weighted[:3]] == [32, 32, 64]
    kernel = keras.ops.convert_to_numpy(weighted[1].kernel)
    assert kernel.std() == pytest.approx(0.01, rel=0.1)
    assert net.get_layer("conv1").activation.__name__ == "tanh" and "lrn1" in [x.name for x in net.layers]
    with pytest.raises(ValueError, match="activation must be 'relu' or 'tanh'"):
        claims.four_layer_net("sigmoid")
    with pytest.raises(ValueError, match="norm must be None or 'lrn'"):
        claims.four_layer_net(norm="batchnorm")


def test_crops_and_flips_are_windows_of_the_padded_image():
    images = np.arange(3 * 5 * 5, dtype="float32").reshape(3, 5, 5, 1) + 1
    out = claims.crops_and_flips(images, np.random.default_rng(0), padding=1)
    assert out.shape == images.shape
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1), (0, 0)])
    for i in range(3):
        options = [padded[i, y:y + 5, x:x + 5] for y in range(3) for x in range(3)]
        options += [o[:, ::-1] for o in options]
        assert any(np.array_equal(out[i], o) for o in options)
    again = claims.crops_and_flips(images, np.random.default_rng(0), padding=1)
    assert np.array_equal(out, again)
    many = claims.crops_and_flips(np.tile(images[:1], (400, 1, 1, 1)), np.random.default_rng(1), padding=0)
    flipped = np.mean([not np.array_equal(m, images[0]) for m in many])
    assert 0.4 < flipped < 0.6
    with pytest.raises(ValueError, match=r"need images \(n, h, w, c\)"):
        claims.crops_and_flips(images[..., 0], np.random.default_rng(0))


def test_steps_to_a_running_threshold():
    errors = [0.9] * 5 + [0.1] * 10
    assert claims.steps_to(errors, 0.2, window=3) == 8  # the first window of three 0.1s ends at step 8
    assert claims.steps_to(errors, 0.4, window=3) == 7  # (0.9 + 0.1 + 0.1) / 3 = 0.37
    assert claims.steps_to(errors, 0.05, window=3) is None
    assert claims.steps_to(errors[:2], 0.95, window=3) is None
    with pytest.raises(ValueError, match="window must be >= 1"):
        claims.steps_to(errors, 0.2, window=0)


def test_the_step_recorder_gives_each_batchs_own_error():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.integers(0, 3, 64)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy", metrics=["accuracy"])
    recorder = claims._step_errors_callback(16, None, 1)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[recorder])
    predicted = model.predict(x, verbose=0).argmax(1)
    per_batch = [1 - np.mean(predicted[i:i + 16] == y[i:i + 16]) for i in range(0, 64, 16)]
    assert recorder.errors == pytest.approx(per_batch * 2)
    stopping = claims._step_errors_callback(16, None, 1, cap=3)
    model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[stopping])
    assert len(stopping.errors) == 3 and stopping.stopped


# --- analysis on synthetic results ----------------------------------------------------------

def row(claim, arm, seed, metrics, learning_rate=0.01, profile_name="quick", **extra):
    return {"claim": claim, "arm": arm, "seed": seed, "learning_rate": learning_rate,
            "profile": profile_name, "metrics": metrics, "epochs": 1, "images": 128, "seconds": 1.0,
            "device": "test CPU", "backend": "jax", "versions": {"keras": keras.__version__},
            "date": "2026-01-01", **extra}


def difference_rows(claim_id, effect, seeds=5, profile_name="quick", noise=0.05):
    claim, rng = claims.get(claim_id), np.random.default_rng(1)
    out = []
    for seed in range(seeds):
        base = 20 + 3 * rng.normal()  # seed noise shared by both arms
        out += [row(claim_id, claim.baseline.name, seed, {claim.metric: base}, profile_name=profile_name),
                row(claim_id, claim.variant.name, seed, {claim.metric: base + effect + noise * rng.normal()},
                    profile_name=profile_name)]
    return out


def steps_rows(profile_name="quick"):
    """ReLU fastest at 0.03 (100 steps), tanh at 0.1 (600 steps): six times slower."""
    out = []
    for seed in range(3):
        for rate, relu, tanh in ((0.01, 300, None), (0.03, 100 + seed, 900), (0.1, None, 600 + 6 * seed),
                                 (0.3, None, None)):
            for arm, steps in (("ReLU", relu), ("tanh", tanh)):
                out.append(row("relu_tanh", arm, seed, {"steps": steps, "steps_run": 1000}, rate,
                               profile_name=profile_name))
    return out


def ten_patch_rows(profile_name="quick"):
    out, n = [], 1000
    for seed in range(3):
        centre = np.zeros(n, bool)
        centre[:800] = True
        ten = centre.copy()
        ten[800:830] = True  # ten patches right on 30 more images, wrong on none
        for arm, correct in (("centre patch", centre), ("ten patches", ten)):
            out.append(row("ten_patch", arm, seed, {"best_test_error": 100 * (1 - correct.mean()),
                                                    "correct": claims._pack(correct), "test_images": n},
                           profile_name=profile_name))
    return out


def test_a_difference_claim_reproduced_and_one_not_detected():
    result = claims.analyse("lrn", difference_rows("lrn", -1.4))
    assert result["interval"].estimate == pytest.approx(-1.4, abs=0.1)
    assert result["verdict"] == stats.REPRODUCED and result["seeds"] == 5
    assert claims.analyse("lrn", difference_rows("lrn", 0.0, noise=1.0))["verdict"] == stats.NOT_DETECTED
    assert claims.analyse("depth", difference_rows("depth", -2.0))["verdict"] == stats.OPPOSITE


def test_a_steps_claim_uses_each_seeds_fastest_rate():
    result = claims.analyse("relu_tanh", steps_rows())
    assert result["interval"].kind == "ratio"
    assert result["interval"].estimate == pytest.approx(6.0, rel=0.01)
    assert result["verdict"] == stats.REPRODUCED
    assert "ReLU: best lr 0.03, 0.03, 0.03 of 0.01-0.3 (bracketed)" in result["note"]


def test_ten_patches_are_compared_over_test_images():
    result = claims.analyse("ten_patch", ten_patch_rows())
    assert result["interval"].estimate == pytest.approx(-3.0)
    assert result["interval"].n == 3000 and result["verdict"] == stats.REPRODUCED
    assert "McNemar" in result["note"]


def test_the_chapter_table_comes_from_the_rows():
    quick = steps_rows() + ten_patch_rows()
    table = claims.lab_table(quick, [])
    assert list(table.index) == [c.title for c in claims.CLAIMS.values()]
    assert table.loc["ReLU vs tanh", "verdict, quick"] == stats.REPRODUCED
    assert table.loc["ReLU vs tanh", "ours, quick"].startswith("x6.0")
    assert table.loc["crops and flips", "ours, quick"] == "not yet measured"
    assert table.loc["LRN vs none", "ours, quick"] == "not run at this profile"
    assert set(table["ours, full"]) == {"not yet measured", "cannot be tested"}
    assert table.loc["PCA colour noise", "verdict, full"] == "-"
    summary = claims.summarise(quick)
    assert list(summary.index) == ["relu_tanh", "ten_patch"]
    assert "bracketed" in table.loc["ReLU vs tanh", "notes"]
    assert "McNemar" in table.loc["ten-patch testing", "notes"]
    figure = claims.forest_plot({"quick": summary})
    left, right = figure.axes[:2]
    assert "points" in left.get_xlabel() and "ratio" in right.get_xlabel()
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["quick", "paper"]
    text = claims.paper_vs_here("relu_tanh", quick, [])
    assert "section 3.1, Figure 1" in text and "full profile: not yet measured" in text
    assert "Here, quick profile (test CPU, 2026-01-01): x6.0" in text and claims.GPU_COMMAND in text
    assert "cannot be tested" in claims.paper_vs_here("pca_colour")
    only_stored = claims.paper_vs_here("lrn", repository=REPO)
    assert "quick profile" not in only_stored and "Here, full profile" in only_stored


# --- stored results -------------------------------------------------------------------------

def test_result_lines_with_a_missing_field_or_unknown_values_are_refused():
    good = difference_rows("lrn", -1.4, seeds=1)
    assert claims.validate_rows(good) == good
    missing = [{k: v for k, v in good[0].items() if k != "device"}]
    with pytest.raises(claims.ResultsFormatError, match=r"missing field\(s\) \['device'\]; every line "
                                                        r"needs claim, arm, seed"):
        claims.validate_rows(missing)
    with pytest.raises(claims.ResultsFormatError, match="unknown claim 'lrm'; valid claims: relu_tanh"):
        claims.validate_rows([{**good[0], "claim": "lrm"}])
    with pytest.raises(claims.ResultsFormatError, match="has no arm 'LRN'; its arms"):
        claims.validate_rows([{**good[0], "arm": "LRN"}])
    with pytest.raises(claims.ResultsFormatError, match="metrics of claim 'lrn' must hold test_error"):
        claims.validate_rows([{**good[0], "metrics": {}}])
    with pytest.raises(claims.ResultsFormatError, match="seed must be an integer >= 0"):
        claims.validate_rows([{**good[0], "seed": -1}])


def test_completeness_needs_every_claim_and_enough_seeds():
    rows = [r for c in claims.runnable("full") for r in complete_rows(c)]
    claims.check_complete(rows, "full", min_seeds=5)
    with pytest.raises(claims.ResultsFormatError, match=r"towers/two towers: 0 seed\(s\)"):
        claims.check_complete([r for r in rows if r["arm"] != "two towers"], "full", min_seeds=5)
    with pytest.raises(claims.ResultsFormatError, match=r"need >= 6 seeds"):
        claims.check_complete(rows, "full", min_seeds=6)


def complete_rows(claim_id):
    claim = claims.get(claim_id)
    metrics = {"steps": 10, "steps_run": 10, "best_test_error": 1.0, "correct": "ff", "test_images": 8,
               claim.metric: 1.0} if claim.metric != "steps" else {"steps": 10, "steps_run": 10}
    return [row(claim_id, side.name, seed, metrics, profile_name="full") for side in claim.arms()
            for seed in range(5)]


def test_stored_results_are_valid_and_complete():
    folder = results.local_results_dir() / "claims"
    assert (folder / "README.md").is_file()
    if not list(folder.glob("*.jsonl")):
        pytest.skip(f"no claims results stored yet; measure them on a GPU with {claims.GPU_COMMAND}")
    stored = claims.stored_rows(REPO, "full", latest=False)
    assert stored, "claims files are stored, but none holds full-profile results"
    for name in sorted({r["file"] for r in stored}):
        claims.check_complete([r for r in stored if r["file"] == name], "full", min_seeds=5)
    quick = claims.stored_rows(REPO, "quick", latest=False)
    assert all(r["profile"] == "quick" for r in quick)


def test_a_damaged_stored_line_is_refused_with_its_file_and_line(tmp_path, monkeypatch):
    """Every stored line is validated, also one of another profile or without a profile."""
    (tmp_path / "claims").mkdir()
    monkeypatch.setattr(results, "local_results_dir", lambda: tmp_path)
    (tmp_path / "claims" / "claims-x-2026-01-01.jsonl").write_text('{"profile": "full"}\n')
    with pytest.raises(claims.ResultsFormatError, match=r"claims-x-2026-01-01.jsonl, line 1: missing field"):
        claims.stored_rows(REPO, "quick")  # the line says "full": it was skipped unchecked


# --- the command line, on JAX without TensorFlow, with two worker processes ------------------

CLI = """
import dataclasses, sys
sys.modules["tensorflow"] = None  # a GPU machine without TensorFlow
from alexnet_book import claims
tiny = claims.Scale(256, 1, 2, drops=(), stop_at_threshold=True, inputs="standardised", width=0.25,
                    threshold=80.0, learning_rates=(0.01, 0.1))
claims.CLAIMS["relu_tanh"] = dataclasses.replace(claims.CLAIMS["relu_tanh"], scales=(("quick", tiny),))
status = claims.main(["--profile", "quick", "--only", "relu_tanh", "--out", sys.argv[1],
                      "--workers", "2", "--no-progress"])
print("tensorflow imported:", sys.modules.get("tensorflow") is not None)
sys.exit(status)
"""


def test_the_command_line_runs_on_jax_without_tensorflow(tmp_path):
    out = tmp_path / "claims.jsonl"
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CLI, str(out)], capture_output=True, text=True,
                          env=env, timeout=300)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-3000:]
    assert "tensorflow imported: False" in done.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    claims.validate_rows(lines)
    assert len(lines) == 2 * 2 * 2  # two arms x two seeds x two learning rates
    assert {r["backend"] for r in lines} == {"jax"} and all(set(claims.ROW_FIELDS) <= set(r) for r in lines)
    assert "relu_tanh" in done.stdout and "result lines" in done.stdout
    print(f"claims command line, two JAX workers: {seconds:.0f} s")
