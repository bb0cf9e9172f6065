#!/usr/bin/env bash
# Everything the course measures on a GPU, in runs that each fit one 10-minute call on
# one H100/H200 (Keras on JAX, no TensorFlow needed). Prepare with tools/gpu_prepare.sh,
# then, with the device tool, carrying .whl and .data:
#   bash tools/gpu_check.sh benchmarks   # throughput.py, then train_fashion_mnist.py (~4 min)
#   bash tools/gpu_check.sh claims K/8   # part K of the claims' full tier (~4.5 min each at
#                                        # 25,000 images/s; benchmarks/README.md lists them)
#   bash tools/gpu_check.sh duel         # alexnet_vs_small.py at 227x227, full width, 5 seeds
#                                        # (~1.5 min a seed; a second call resumes the file)
# The claims part appends to the stored full-tier file when the checkout has one, so parts
# run in different sessions build one file (runs already stored are skipped).
# Each stage writes its JSON (lines) and log to $OUT as it finishes, so a stage cut off by
# its time limit leaves the others' results. Copy them into benchmarks/results/ (named
# <benchmark>-<device>-<date>.json, claims/claims-<device>-<date>.jsonl).
set -u
part=${1:-}
claims_part=${2:-1/1}
case "$part" in
  benchmarks|claims|duel) ;;
  *) echo "usage: tools/gpu_check.sh benchmarks | claims K/N | duel (got '$part')" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false \
  PYTHONUNBUFFERED=1 WANDB_MODE=disabled
[ -d .data/keras ] && export KERAS_HOME=$PWD/.data/keras
python3 -c "import keras, jax; print('keras', keras.__version__, 'on', keras.backend.backend(), jax.devices())" || exit 1
energy=""
python3 -c "import codecarbon" 2>/dev/null || { energy="--no-energy"; echo "codecarbon missing: no energy column"; }

stage() {  # stage FILE SECONDS COMMAND...: run it, stdout into $OUT/FILE, stderr into a .log beside it
  local file=$1 limit=$2 start=$SECONDS
  shift 2
  timeout "$limit" "$@" > "$OUT/$file" 2> "$OUT/${file%.*}.log"
  echo "$file: exit $? after $((SECONDS - start)) s"
  tail -c 600 "$OUT/$file"; echo
}
case "$part" in
  benchmarks)
    stage throughput.json 200 python3 benchmarks/throughput.py --require-gpu
    stage train_fashion_mnist.json 240 python3 benchmarks/train_fashion_mnist.py --require-gpu --epochs 10 $energy
    ;;
  claims)
    stored=$(ls -t benchmarks/results/claims/claims-full-*.jsonl 2>/dev/null | head -1)
    [ -n "$stored" ] && cp "$stored" "$OUT/claims.jsonl"
    stage claims-summary.txt 560 python3 -m alexnet_book.claims --tier full --part "$claims_part" \
      --out "$OUT/claims.jsonl" --no-progress
    ;;
  duel)  # the stored GPU file, if any, is copied first: the script skips the runs it holds
    stored=$(ls -t benchmarks/results/alexnet-vs-small/alexnet_vs_small-H*.jsonl 2>/dev/null | head -1)
    [ -n "$stored" ] && cp "$stored" "$OUT/alexnet_vs_small.jsonl"
    stage alexnet_vs_small-summary.json 560 python3 benchmarks/alexnet_vs_small.py --require-gpu $energy \
      --image-size 227 --width 1 --seeds 5 --out "$OUT/alexnet_vs_small.jsonl"
    ;;
esac
