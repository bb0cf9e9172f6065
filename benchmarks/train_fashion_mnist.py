"""Train the course's AlexNet on Fashion-MNIST at 227x227 with the paper's recipe and
report test accuracy and training images per second.

The course's split (50,000 training images, 10,000 for validation, the 10,000 test
images). The host hands uint8 28x28 images to the model; the device casts them,
subtracts the training mean and resizes them. Training speed is timed per epoch,
validation excluded. Runs on any Keras backend (``KERAS_BACKEND=jax`` on a GPU machine
without TensorFlow) and prints one JSON line.

    KERAS_BACKEND=jax python benchmarks/train_fashion_mnist.py --epochs 10   # GPU
    python benchmarks/train_fashion_mnist.py --quick                         # CPU, < 1 min

Targets on one H100/H200 (issue 18): test accuracy >= 0.93 in 10 epochs (aim: 0.94) and
>= 30,000 images/s.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import time

from alexnet_book.cli import PRECISIONS, at_least, fraction, number_at_least

#: --quick: a few hundred images at the quick profile's size, one epoch.
QUICK = {"train_subset": 512, "test_subset": 256, "epochs": 1}
SHIFT = 3  # pixels of a 28x28 image: the per-image shifts of --augment
# Parsed before Keras loads, so the library's limits are repeated here (a test compares them):
MIN_IMAGE_SIZE = 67  # models.minimum_input_size(): the smallest side that leaves pool5 a pixel
MIN_WIDTH = 1 / 16  # models.MIN_WIDTH
SMALL_LEARNING_RATE = 3e-3  # chapter 6's Adam for chapter 0's small network


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=at_least(1), help="default 10 (1 with --quick)")
    parser.add_argument("--batch-size", type=at_least(1), default=128)
    parser.add_argument("--precision", default="auto", choices=PRECISIONS,
                        help="auto: bfloat16 on GPUs of compute capability >= 8.0, float16 on "
                             "older GPUs, float32 on the CPU")
    parser.add_argument("--schedule", default="steps", choices=("steps", "plateau"),
                        help="steps: divide by ten at 60%% and 90%% of the epochs "
                             "(training.step_schedule), a stand-in for the paper's rule of "
                             "dividing when the validation error stops improving (section 5); "
                             "plateau: divide by ten when validation accuracy stalls for 2 "
                             "epochs (training.paper_recipe)")
    parser.add_argument("--label-smoothing", type=fraction, default=0.0)
    parser.add_argument("--augment", default="none", choices=("none", "late", "all"),
                        help=f"per-image shifts of up to {SHIFT} pixels and horizontal flips: "
                             "never, from the first learning-rate step (60%% of the epochs) on, "
                             "or from the start")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--towers", type=int, default=2, choices=(1, 2),
                        help="2: the paper's two-tower network (chapter 6's); 1: one tower")
    parser.add_argument("--model", default="alexnet", choices=("alexnet", "small"),
                        help="small: chapter 0's small network (models.small_cnn) on the 28x28 "
                             "images, with chapter 6's recipe for it (Adam 3e-3, constant; "
                             "--schedule and --towers do not apply)")
    parser.add_argument("--image-size", type=at_least(MIN_IMAGE_SIZE),
                        help="side AlexNet resizes the images to (default: the profile's, 227; "
                             "67 with --quick)")
    parser.add_argument("--width", type=number_at_least(MIN_WIDTH),
                        help="multiplier on AlexNet's filter and unit counts (default: the "
                             "profile's, 1; 0.25 with --quick)")
    parser.add_argument("--require-gpu", action="store_true", help="fail unless a GPU is used")
    parser.add_argument("--no-energy", action="store_true",
                        help="skip codecarbon's energy measurement (kwh: null), e.g. where it is not installed")
    parser.add_argument("--quick", action="store_true",
                        help="tiny run for tests: 512 training images at the quick profile's "
                             "67x67 and width 0.25, 1 epoch")
    args = parser.parse_args(argv)
    if args.epochs is None:
        args.epochs = QUICK["epochs"] if args.quick else 10
    if args.model == "small" and (args.image_size or args.width):
        parser.error("argument --image-size/--width: the small network trains on the 28x28 "
                     "images at their own size; drop them with --model small")
    args.error = parser.error
    return args


def shift_and_flip():
    """The layer and callback of ``--augment``: per-image random shifts of up to
    ``SHIFT`` pixels, filled with black (a random 28x28 crop of the image padded by
    ``SHIFT`` pixels), and horizontal flips, in the raw uint8 images before centring.

    Written with ``keras.ops`` gathers because Keras' ``RandomTranslation`` and
    ``RandomCrop`` declare ``supports_jit = False``, which turns XLA off for the whole
    model, and ``RandomCrop`` draws one offset per batch, not per image. It works on the
    raw uint8 (batch, h, w) images, and its ``on`` variable lets a callback switch it on
    between epochs without recompiling the step; ``augment.crop_and_flip`` (the same
    per-image gather, on (batch, h, w, c) batches, always on in training) is what the
    chapters use."""
    import keras
    from keras import ops

    class ShiftAndFlip(keras.layers.Layer):
        def __init__(self, pixels: int = SHIFT, seed=None, **kwargs):
            kwargs["dtype"] = "float32"  # the policy of with_precision does not apply: uint8 in and out
            super().__init__(**kwargs)
            self.pixels, self.seed = pixels, seed
            self.seed_generator = keras.random.SeedGenerator(seed)

        def build(self, input_shape):
            self.on = self.add_weight(shape=(), initializer="zeros", trainable=False, name="on")

        def call(self, images, training=None):  # greyscale (batch, h, w)
            if not training:
                return images
            batch, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
            on = ops.cast(self.on > 0.5, "int32")

            def draw(low, high):  # one integer per image, 0 while the layer is off
                return on * keras.random.randint((batch, 1), low, high, seed=self.seed_generator)

            dy, dx, flip = draw(-self.pixels, self.pixels + 1), draw(-self.pixels, self.pixels + 1), draw(0, 2)
            rows = ops.arange(height)[None, :] + dy                       # source rows (batch, h)
            cols = ops.arange(width)[None, :]
            cols = ops.where(flip > 0, width - 1 - cols, cols) + dx       # source columns (batch, w)
            inside = (((rows >= 0) & (rows < height))[:, :, None]
                      & ((cols >= 0) & (cols < width))[:, None, :])
            rows = ops.broadcast_to(ops.clip(rows, 0, height - 1)[:, :, None], (batch, height, width))
            cols = ops.broadcast_to(ops.clip(cols, 0, width - 1)[:, None, :], (batch, height, width))
            moved = ops.take_along_axis(ops.take_along_axis(images, rows, 1), cols, 2)
            return ops.where(inside, moved, ops.zeros_like(moved))

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            return {**super().get_config(), "pixels": self.pixels, "seed": self.seed}

    class SwitchOn(keras.callbacks.Callback):
        """Turns the model's augmentation on at the start of epoch ``epoch``."""

        def __init__(self, epoch: int):
            super().__init__()
            self.epoch = epoch

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == self.epoch:
                self.model.get_layer("shift_and_flip").on.assign(1.0)

    return ShiftAndFlip, SwitchOn


def smoothed_crossentropy(smoothing: float):
    """Sparse cross-entropy with label smoothing (Keras' sparse loss has no smoothing)."""
    import keras
    from keras import ops

    def loss(y_true, y_pred):
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), ops.shape(y_pred)[-1])
        return keras.losses.categorical_crossentropy(labels, y_pred, label_smoothing=smoothing)

    return loss


def main(argv=None) -> dict:
    args = parse_args(argv)
    import keras
    import numpy as np

    from alexnet_book import device

    if args.require_gpu and not device.gpu_available():
        args.error(f"argument --require-gpu: Keras on {keras.backend.backend()} sees no GPU; run "
                   "on a GPU machine (on JAX: pip install 'jax[cuda12]'), or drop --require-gpu")

    from alexnet_book import data, models, profile, speed, tracking, training
    scale = profile.get("quick") if args.quick else profile.get("full")
    if args.quick:
        scale = dataclasses.replace(scale, train_subset=QUICK["train_subset"],
                                    test_subset=QUICK["test_subset"])
    scale = dataclasses.replace(scale, image_size=args.image_size or scale.image_size,
                                width=args.width or scale.width)
    keras.utils.set_random_seed(args.seed)
    splits = data.course_splits(scale)

    # uint8 in, data.centre on the device, then the course model from its Resizing on.
    layers = [keras.Input(splits.x_train.shape[1:], dtype="uint8", name="image_uint8")]
    callbacks = []
    if args.augment != "none":
        ShiftAndFlip, SwitchOn = shift_and_flip()
        layers.append(ShiftAndFlip(seed=args.seed, name="shift_and_flip"))
        callbacks.append(SwitchOn(0 if args.augment == "all" else round(0.6 * args.epochs)))
    if args.model == "small":  # chapter 6's baseline: pixels / 255, no centring, no resize
        net = models.small_cnn()
        layers += [keras.layers.Rescaling(1 / 255, name="scale"), keras.layers.Reshape((28, 28, 1))]
    else:
        layers.append(speed.DeviceCentring(splits.mean, name="centre"))
        net = models.course_model(scale, towers=args.towers)
    model = keras.Sequential(layers + net.layers[1:] if args.model == "alexnet" else layers + net.layers,
                             name=net.name if args.model == "small" else "alexnet")

    if args.model == "small":
        optimizer = keras.optimizers.Adam(SMALL_LEARNING_RATE)
    elif args.schedule == "steps":
        optimizer = training.PaperSGD(learning_rate=0.01)
        callbacks.append(training.step_schedule(args.epochs))
    else:
        optimizer, plateau = training.paper_recipe()
        callbacks += plateau
    loss = (smoothed_crossentropy(args.label_smoothing) if args.label_smoothing
            else "sparse_categorical_crossentropy")
    compiled = speed.compile_for_speed(
        model, optimizer, loss=loss, metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        mixed_precision=args.precision,
        jit_compile="auto")  # always on JAX (op by op without), with a GPU otherwise
    meter = speed.ThroughputCallback(args.batch_size)  # epochs only, validation excluded

    start = time.perf_counter()
    energy = contextlib.nullcontext() if args.no_energy else tracking.EnergyTracker("benchmark-train")
    with energy:
        history = compiled.model.fit(
            splits.x_train, splits.y_train, batch_size=args.batch_size, epochs=args.epochs,
            validation_data=(splits.x_val, splits.y_val), validation_batch_size=512,
            callbacks=callbacks + [meter], verbose=0)
    seconds = time.perf_counter() - start
    test = compiled.model.evaluate(splits.x_test, splits.y_test, batch_size=512, verbose=0,
                                   return_dict=True)
    small = args.model == "small"
    # a schedule logs the rate of every epoch; a constant rate is the optimizer's
    rates = history.history.get("learning_rate") or [float(optimizer.learning_rate)] * args.epochs
    result = {
        "benchmark": "train_fashion_mnist",
        "model": args.model,
        "parameters": compiled.model.count_params(),
        "quick": args.quick,
        "epochs": args.epochs,
        "image_size": 28 if small else scale.image_size,
        "width": None if small else scale.width,
        "batch_size": args.batch_size,
        "train_images": len(splits.x_train),
        "validation_images": len(splits.x_val),
        "test_images": len(splits.x_test),
        "input": "uint8, centred and resized on the device",
        "precision": compiled.precision,
        "jit_compile": compiled.model.jit_compile,  # what Keras kept (a layer can veto XLA)
        "schedule": f"constant (Adam {SMALL_LEARNING_RATE:g})" if small else args.schedule,
        "label_smoothing": args.label_smoothing,
        "augment": args.augment,
        "seed": args.seed,
        "test_accuracy": round(float(test["accuracy"]), 4),
        "towers": None if small else args.towers,
        "val_accuracy": [round(float(a), 4) for a in history.history["val_accuracy"]],
        # chapter 6 draws the stored run's curves and conv1 kernels beside its own
        "train_accuracy": [round(float(a), 4) for a in history.history["accuracy"]],
        "learning_rate": [float(f"{float(r):.6g}") for r in rates],  # float32
        "conv1_kernels": None if small else np.round(keras.ops.convert_to_numpy(
            compiled.model.get_layer("conv1").kernel)[..., 0, :].astype("float32"), 4).tolist(),
        "images_per_second": round(meter.steady_state, 1),
        "first_epoch_images_per_second": round(meter.first_epoch, 1),
        "epoch_images_per_second": [round(r, 1) for r in meter.images_per_second],
        "train_seconds": round(sum(meter.epoch_seconds), 1),
        "seconds": round(seconds, 1),
        "kwh": None if args.no_energy else energy.energy.kwh,
        **device.environment_report(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
