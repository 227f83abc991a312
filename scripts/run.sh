#!/usr/bin/env bash
# The main job (README): set-up, release build, then the whole image pipeline on the bundled MNIST
# sample, about ten minutes on two cores with the defaults below:
#
#   ingest (8,000 train / 2,000 test) → pretrain a CNN on the real train split
#   → train the conditional GAN (+ PPO when PPO_ITERATIONS > 0) → generate N synthetic images a class
#   → finetune: a fresh CNN on synthetic only (CAS), and the real classifier on real + synthetic
#   → one table of test accuracy on the real held-out split.
#
# Longer, better runs: CLASSIFIER_EPOCHS=15 GAN_EPOCHS=30 FINETUNE_EPOCHS=5 scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CLASSIFIER_EPOCHS=${CLASSIFIER_EPOCHS:-4}
GAN_EPOCHS=${GAN_EPOCHS:-10}
PPO_ITERATIONS=${PPO_ITERATIONS:-0}
PER_CLASS=${PER_CLASS:-1000}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-3}
SEED=${SEED:-1}

bash scripts/setup.sh
swift build -c release --product reptile
reptile=".build/release/reptile"
step() { printf '\n== %s\n' "$*"; }

step "ingest the bundled MNIST sample"
"$reptile" ingest image datasets/samples/mnist --name mnist-sample --test-fraction 0.2 --seed "$SEED" --force

step "pretrain the CNN on the real train split ($CLASSIFIER_EPOCHS epochs at most)"
"$reptile" pretrain --dataset datasets/mnist-sample --out outputs/mnist-sample-classifier \
    --epochs "$CLASSIFIER_EPOCHS" --seed "$SEED" --force

step "train the conditional GAN ($GAN_EPOCHS epochs, $PPO_ITERATIONS PPO iterations)"
ppo=()
if [ "$PPO_ITERATIONS" -gt 0 ]; then
    ppo=(--ppo-iterations "$PPO_ITERATIONS" --classifier outputs/mnist-sample-classifier/classifier.h5)
fi
"$reptile" train image --dataset datasets/mnist-sample --out outputs/mnist-sample-gan \
    --epochs "$GAN_EPOCHS" "${ppo[@]}" --seed "$SEED" --force

step "generate $PER_CLASS synthetic images a class"
"$reptile" generate --run outputs/mnist-sample-gan --per-class "$PER_CLASS" \
    --classifier outputs/mnist-sample-classifier/classifier.h5 --seed "$SEED" --force

step "a fresh CNN on synthetic images only (Classification Accuracy Score)"
"$reptile" finetune --scratch --train outputs/mnist-sample-gan/synthetic --eval datasets/mnist-sample:test \
    --out outputs/mnist-sample-cas --epochs "$FINETUNE_EPOCHS" --seed "$SEED" --force

step "the real classifier continued on real + synthetic (half of each batch synthetic)"
"$reptile" finetune --classifier outputs/mnist-sample-classifier/classifier.h5 \
    --train datasets/mnist-sample:train --train outputs/mnist-sample-gan/synthetic --mix 0.5 \
    --eval datasets/mnist-sample:test --out outputs/mnist-sample-real-plus-synthetic \
    --epochs "$FINETUNE_EPOCHS" --seed "$SEED" --force

step "test accuracy on the 2,000 held-out real images"
"$reptile" compare real-only=outputs/mnist-sample-classifier synthetic-only=outputs/mnist-sample-cas \
    real+synthetic=outputs/mnist-sample-real-plus-synthetic
