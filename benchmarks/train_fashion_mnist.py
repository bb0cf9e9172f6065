"""Train the library AlexNet with the paper's recipe on Fashion-MNIST at 227x227.

Runs on any Keras backend (``KERAS_BACKEND=jax`` on a machine without TensorFlow) and
prints one JSON line: test accuracy, steady-state training images/s, seconds, kWh, and
the environment. Images are resized on the device by the model's ``Resizing`` layer.

    python benchmarks/train_fashion_mnist.py --epochs 10            # the full run (GPU)
    python benchmarks/train_fashion_mnist.py --quick                # under a minute on a CPU

Targets on one H100/H200 (issue 7): test accuracy >= 0.93 within 10 epochs and
>= 30,000 images/s.
"""

from __future__ import annotations

import argparse
import json
import time

import keras

from alexnet_book import data, models, profile, tracking, training


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--image-size", type=int, default=227)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--train-images", type=int, default=60_000)
    parser.add_argument("--precision", default="auto",
                        choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"])
    parser.add_argument("--quick", action="store_true",
                        help="tiny run for tests: 67x67, width 0.25, 2,000 images, 1 epoch")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.image_size, args.width, args.train_images = 1, 67, 0.25, 2_000

    keras.utils.set_random_seed(0)
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist()
    x_train, y_train = data.subset(x_train, y_train, args.train_images, seed=0)
    if args.quick:
        x_test, y_test = x_test[:1_000], y_test[:1_000]
    mean = data.mean_image(x_train)
    x_train, x_test = data.center(x_train, mean), data.center(x_test, mean)

    model = models.alexnet((28, 28, 1), 10, width=args.width, resize_to=args.image_size)
    optimizer, callbacks = training.paper_recipe()
    precision = training.choose_precision() if args.precision == "auto" else args.precision
    model = training.compile_for_speed(model, optimizer, mixed_precision=precision)
    meter = training.ThroughputCallback(args.batch_size)
    start = time.perf_counter()
    with tracking.EnergyTracker("benchmark-train") as energy:
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                  validation_data=(x_test, y_test), callbacks=callbacks + [meter], verbose=0)
    seconds = time.perf_counter() - start
    test_accuracy = float(model.evaluate(x_test, y_test, batch_size=512, verbose=0)[1])
    result = {
        "benchmark": "train_fashion_mnist",
        "quick": args.quick,
        "epochs": args.epochs,
        "image_size": args.image_size,
        "width": args.width,
        "batch_size": args.batch_size,
        "train_images": int(len(x_train)),
        "precision": precision,
        "test_accuracy": round(test_accuracy, 4),
        "images_per_second": round(meter.steady_state, 1),
        "first_epoch_images_per_second": round(meter.first_epoch, 1),
        "seconds": round(seconds, 1),
        "kwh": energy.energy.kwh,
        **profile.environment_report(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
