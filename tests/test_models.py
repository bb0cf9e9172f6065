import keras
import numpy as np
import pytest
from keras_checks import assert_survives_save_and_load

from alexnet_book import models, profile


@pytest.fixture(scope="module")
def paper_models():
    return {towers: models.alexnet(towers=towers) for towers in (1, 2)}


def test_paper_parameter_counts(paper_models):
    assert paper_models[1].count_params() == 62_378_344
    assert paper_models[2].count_params() == 60_965_224


def test_paper_shapes(paper_models):
    table = models.layer_table(paper_models[1])
    shapes = table["output shape"].to_dict()
    assert shapes["conv1"] == (55, 55, 96)
    assert shapes["pool1"] == (27, 27, 96)
    assert shapes["conv2"] == (27, 27, 256)
    assert shapes["pool2"] == (13, 13, 256)
    assert shapes["conv3"] == (13, 13, 384) and shapes["conv5"] == (13, 13, 256)
    assert shapes["flatten"] == (9216,)
    assert shapes["fc8"] == (1000,)


def test_two_towers_group_conv2_conv4_conv5_only(paper_models):
    groups = {layer.name: layer.groups for layer in paper_models[2].layers
              if isinstance(layer, keras.layers.Conv2D)}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}


def test_layer_table_macs_receptive_field_and_strides(paper_models):
    table = models.layer_table(paper_models[1])
    assert table.loc["conv1", "MACs"] == 55 * 55 * 96 * 11 * 11 * 3 == 105_415_200
    assert table.loc["fc6", "MACs"] == 9216 * 4096
    assert table.loc["conv1", "receptive field"] == 11 and table.loc["conv1", "stride"] == 4
    assert table.loc["pool1", "receptive field"] == 19
    assert table.loc["conv2", "receptive field"] == 51
    assert table.loc["pool5", "receptive field"] == 195 and table.loc["pool5", "stride"] == 32
    assert table["parameters"].sum() == 62_378_344
    two = models.layer_table(paper_models[2])
    assert two.loc["conv2", "MACs"] * 2 == table.loc["conv2", "MACs"]
    assert table.loc["conv1", "activations (KiB, fp32)"] == 55 * 55 * 96 * 4 / 1024


def test_paper_init():
    model = models.alexnet(input_shape=(67, 67, 3), num_classes=10, width=0.25, paper_init=True)
    biases = {layer.name: np.unique(keras.ops.convert_to_numpy(layer.bias))
              for layer in model.layers if hasattr(layer, "bias") and layer.bias is not None}
    assert {name for name, b in biases.items() if b.tolist() == [1.0]} == {
        "conv2", "conv4", "conv5", "fc6", "fc7"}
    assert {name for name, b in biases.items() if b.tolist() == [0.0]} == {"conv1", "conv3", "fc8"}
    kernel = keras.ops.convert_to_numpy(model.get_layer("fc6").kernel)
    assert kernel.std() == pytest.approx(0.01, rel=0.05) and abs(kernel.mean()) < 1e-3


@pytest.mark.parametrize("norm, layer_type", [
    ("lrn", "LocalResponseNormalization"), ("batchnorm", "BatchNormalization"), (None, None)])
def test_norm_choices(norm, layer_type):
    model = models.alexnet((67, 67, 3), 10, norm=norm, width=0.25)
    types = [type(layer).__name__ for layer in model.layers]
    if layer_type:
        assert types.count(layer_type) == 2
        assert types.index(layer_type) == types.index("Conv2D") + 1
    else:
        assert "LocalResponseNormalization" not in types and "BatchNormalization" not in types


def test_non_overlapping_pooling():
    model = models.alexnet(overlapping_pool=False)
    pool = model.get_layer("pool1")
    assert pool.pool_size == (2, 2) and pool.strides == (2, 2)
    assert models.layer_table(model).loc["pool1", "output shape"] == (27, 27, 96)


def test_width_and_resize_for_fashion_mnist():
    model = models.alexnet((28, 28, 1), 10, width=0.25, resize_to=67, towers=2)
    table = models.layer_table(model)
    assert table.loc["resize", "output shape"] == (67, 67, 1)
    assert table.loc["conv1", "output shape"] == (15, 15, 24)
    assert table.loc["pool5", "output shape"] == (1, 1, 64)
    assert model.get_layer("fc6").units == 1024
    assert model.predict(np.zeros((2, 28, 28, 1)), verbose=0).shape == (2, 10)


@pytest.mark.parametrize("kwargs, message", [
    ({"towers": 3}, "towers must be 1 or 2, got 3"),
    ({"norm": "layernorm"}, "norm must be one of 'lrn', 'batchnorm' or None, got 'layernorm'"),
    ({"width": 0}, "width must be a number >= 0.0625 .*, got 0"),
    ({"width": -1.0}, "width must be a number >= 0.0625 .*, got -1.0"),
    ({"width": 0.001}, "width must be a number >= 0.0625 .*, got 0.001"),
    ({"input_shape": (67, 67)}, r"input_shape must be \(height, width, channels\), got \(67, 67\)"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
    ({"input_shape": (28, 28, 1)},
     "input 28x28 is too small for AlexNet's stem .* the minimum is 67x67, or pass resize_to=67"),
    ({"input_shape": (28, 28, 1), "resize_to": 64}, "input 64x64 is too small"),
    ({"input_shape": (38, 38, 1), "overlapping_pool": False}, "the minimum is 39x39"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.alexnet(**kwargs)


def test_minimum_input_sizes_really_are_minimal():
    assert models.minimum_input_size() == 67 and models.minimum_input_size(False) == 39
    models.alexnet((67, 67, 3), 10, width=0.1)
    models.alexnet((39, 39, 3), 10, width=0.1, overlapping_pool=False)
    with pytest.raises(ValueError):
        models.alexnet((66, 66, 3), 10, width=0.1)


def test_contrast_models():
    assert models.lenet5().count_params() == 61_706
    assert models.layer_table(models.zfnet())["output shape"].to_dict()["pool1"] == (55, 55, 96)
    assert models.zfnet().count_params() == 62_357_608
    with pytest.raises(ValueError, match="too small for LeNet-5: the minimum is 32x32"):
        models.lenet5((28, 28, 1))
    with pytest.raises(ValueError, match="too small for ZF Net"):
        models.zfnet((96, 96, 3))


def test_seed_alexnet_documents_and_applies_its_differences():
    model = models.seed_alexnet((67, 67, 3), 10, width=0.25)
    types = [type(layer).__name__ for layer in model.layers]
    assert types.count("BatchNormalization") == 7  # five convs and two hidden dense layers
    assert types.count("Dropout") == 5
    l2 = {layer.name: float(layer.kernel_regularizer.l2) for layer in model.layers
          if getattr(layer, "kernel_regularizer", None) is not None}
    assert list(l2.values()) == pytest.approx([2e-4] * 8)
    assert "lrn1" not in {layer.name for layer in model.layers}
    with pytest.raises(ValueError, match="l2 must be >= 0"):
        models.seed_alexnet(l2=-1)
    with pytest.raises(ValueError, match="input 28x28 is too small.* or pass resize_to=67"):
        models.seed_alexnet((28, 28, 1), 10)
    with pytest.raises(ValueError, match="width must be a number >= 0.0625"):
        models.seed_alexnet(width=0.01)


SMALL_BUILDERS = {
    "alexnet_lrn_2towers": lambda: models.alexnet((28, 28, 1), 10, towers=2, width=0.25,
                                                  resize_to=67),
    "alexnet_batchnorm": lambda: models.alexnet((67, 67, 3), 10, norm="batchnorm", width=0.25),
    "seed_alexnet": lambda: models.seed_alexnet((28, 28, 1), 10, width=0.25, resize_to=67),
    "lenet5": lambda: models.lenet5(),
}


@pytest.mark.parametrize("name", sorted(SMALL_BUILDERS))
def test_clone_and_save_load_round_trip(name, tmp_path):
    model = SMALL_BUILDERS[name]()
    x = np.random.default_rng(0).random((2, *model.input_shape[1:])).astype("float32")
    clone = keras.models.clone_model(model)
    assert clone.count_params() == model.count_params()
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    assert_survives_save_and_load(model, x, tmp_path)


def test_course_model_follows_the_profile_and_takes_overrides():
    quick = profile.get("quick")
    model = models.course_model(quick)
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    assert model.get_layer("resize").output.shape[1] == quick.image_size
    assert model.get_layer("conv1").filters == round(96 * quick.width)
    ablation = models.course_model(quick, norm="batchnorm", towers=2, dropout=0.0)
    names = {layer.name for layer in ablation.layers}
    assert "bn1" in names and "dropout6" not in names and ablation.get_layer("conv2").groups == 2
    full = models.course_model(profile.get("full"))
    assert full.get_layer("conv1").filters == 96 and full.get_layer("resize").output.shape[1] == 227
    with pytest.raises(ValueError, match=r"unknown arguments \['widht'\]; allowed: .*'width'"):
        models.course_model(quick, widht=0.5)


def test_layer_table_needs_layers():
    empty = keras.Sequential([keras.Input((3,))])
    with pytest.raises(ValueError, match="no layers to tabulate"):
        models.layer_table(empty)


def test_summary_text_is_keras_summary_without_colours(paper_models):
    text = models.summary_text(paper_models[1], line_length=80)
    assert "\x1b" not in text, "terminal colour codes in the summary"
    lines = text.splitlines()
    assert lines[0] == 'Model: "alexnet"' and not text.endswith("\n")
    assert max(len(line) for line in lines) == 80
    assert any(line.startswith("│ lrn1 (LocalResponseNormalization)") for line in lines)
    assert " Total params: 62,378,344 " in text
    with pytest.raises(ValueError, match="line_length must be at least 40 characters, got 12"):
        models.summary_text(paper_models[1], line_length=12)


def test_zfnet_survives_clone():
    model = models.zfnet()
    clone = keras.models.clone_model(model)
    assert clone.count_params() == model.count_params() == 62_357_608


def test_drop_conv_removes_one_middle_layer_and_checks_its_argument():
    full = models.alexnet((67, 67, 1), 10, width=0.25)
    convs = {layer.name for layer in full.layers if isinstance(layer, keras.layers.Conv2D)}
    for dropped in (3, 4):
        model = models.alexnet((67, 67, 1), 10, width=0.25, drop_conv=dropped, towers=2)
        names = {layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
        assert names == convs - {f"conv{dropped}"}
        assert model.output_shape == (None, 10)
    assert models.alexnet((67, 67, 1), 10, width=0.25, drop_conv=None).count_params() == full.count_params()
    for bad in (1, 5, "conv3", True):
        with pytest.raises(ValueError, match=r"drop_conv must be one of \(None, 3, 4\).*got"):
            models.alexnet((67, 67, 1), 10, width=0.25, drop_conv=bad)


# Faults, second round (issue 26): NumPy widths are numbers; refusals show the value.


def test_numpy_widths_are_accepted_like_python_numbers():
    reference = models.alexnet((67, 67, 3), 10, width=0.25)
    for width in (np.float32(0.25), np.float64(0.25)):
        model = models.alexnet((67, 67, 3), 10, width=width)
        assert model.count_params() == reference.count_params()
        assert model.get_layer("conv1").filters == reference.get_layer("conv1").filters == 24
    assert models.seed_alexnet((67, 67, 3), 10, width=np.float32(0.25)).count_params() > 0


@pytest.mark.parametrize("width, shown", [
    (np.float32(0.01), "got 0.01$"),  # not "np.float32(0.01)"
    (np.float64(float("nan")), "got nan$"),
    (float("inf"), "got inf$"),
    ("0.5", r"got '0.5' \(a str\)$"),
    (None, r"got None \(a NoneType\)$"),
    (np.bool_(True), r"got .*True_? \(a bool_?\)$"),
])
def test_refused_widths_show_the_value_clearly(width, shown):
    with pytest.raises(ValueError, match=r"width must be a number >= 0.0625 .*" + shown):
        models.alexnet((67, 67, 3), 10, width=width)


def test_small_cnn_is_chapter_0s_network():
    model = models.small_cnn()
    assert model.count_params() == 12_810
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense"]
    assert model.output_shape == (None, 10)
