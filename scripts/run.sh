#!/usr/bin/env bash
# The main job (README): set-up, release build, then the pipeline on the bundled MNIST sample.
# For now the pipeline is its first stage: ingest (8,000 train / 2,000 test, stratified, seeded)
# and the dataset's summary. Later stages join here as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product reptile
reptile=".build/release/reptile"
"$reptile" ingest image datasets/samples/mnist --name mnist-sample --test-fraction 0.2 --seed 1 --force "$@"
