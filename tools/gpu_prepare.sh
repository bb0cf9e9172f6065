#!/usr/bin/env bash
# Prepare, on a machine with internet, what tools/gpu_check.sh needs on a GPU machine that
# has Python 3.12, JAX with CUDA and PyTorch but no Keras and no network:
#   .whl/   wheels for Python 3.12 (Keras and what it lacks there; codecarbon and its
#           pure-Python needs, for the energy column)
#   .data/  Keras' cache with the four Fashion-MNIST files
# Both folders are git-ignored (.gitignore); carry them to the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
KERAS_VERSION=$("$PYTHON" -c "import keras; print(keras.__version__)")
# On the GPU image already: numpy, pandas, h5py, ml-dtypes, absl-py, rich, requests, psutil,
# click, typer, prometheus-client, py-cpuinfo, nvidia-ml-py, python-dateutil.
WHEELS=(
  "keras==$KERAS_VERSION" namex optree
  codecarbon arrow tzdata pycountry questionary prompt-toolkit wcwidth rapidfuzz
  pydantic pydantic-core annotated-types typing-inspection authlib joserfc cryptography cffi pycparser
)
rm -rf .whl && mkdir -p .whl
for wheel in "${WHEELS[@]}"; do
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
    -d .whl "$wheel"
done
mkdir -p .data/keras/datasets
"$PYTHON" -m alexnet_book.data >/dev/null
cp -r "$("$PYTHON" -c "from alexnet_book import data; print(data.keras_cache_dir())")" .data/keras/datasets/
du -sh .whl .data
echo "ready: run tools/gpu_check.sh on the GPU machine with .whl and .data carried"
