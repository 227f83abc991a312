#!/usr/bin/env bash
# The low-data check of text synthesis (README, `train text`): with a few real texts a class
# (datasets/NAME made by `ingest --per-class N`), does real + synthetic beat real alone?
#
#   scripts/text-low-data.sh sms-100
#
# Steps, each a plain `reptile` command printed before it runs: the text-cnn on the real texts
# (3 seeds; patience = epochs, as an epoch is a handful of steps), the generator (MLE, D, PPO with
# that classifier as reward), SYNTHETIC_PER_CLASS texts a class, a text-cnn on synthetic only, and
# the real classifier continued on batches with a MIX share of synthetic texts (3 seeds).
# Environment: EPOCHS (40), PPO_ITERATIONS (5), SYNTHETIC_PER_CLASS (1000), TEMPERATURE (0.8),
# MIX (0.5), FINETUNE_EPOCHS (5), TAG (names the result folders), TRAIN_FLAGS (extra `train text`).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
reptile=${REPTILE:-.build/release/reptile}
EPOCHS=${EPOCHS:-40}
PPO_ITERATIONS=${PPO_ITERATIONS:-5}
SYNTHETIC_PER_CLASS=${SYNTHETIC_PER_CLASS:-1000}
TEMPERATURE=${TEMPERATURE:-0.8}
MIX=${MIX:-0.5}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-5}
TAG=${TAG:-}
TRAIN_FLAGS=${TRAIN_FLAGS:-}
dataset=datasets/$name
out=outputs/$name
run() { printf '+ %s\n' "$*" >&2; "$@"; }

[ -f "$out-classifier/classifier.h5" ] || run "$reptile" pretrain --dataset "$dataset" --out "$out-classifier" \
    --epochs "$EPOCHS" --patience "$EPOCHS" --threads 1 --seed 0 --force >/dev/null
[ -f "$out-real-3seeds/report.json" ] || run "$reptile" finetune --scratch --train "$dataset" --eval "$dataset:test" --repeats 3 \
    --epochs "$EPOCHS" --patience "$EPOCHS" --out "$out-real-3seeds" --threads 1 --force >/dev/null
# shellcheck disable=SC2086
[ -f "$out-textgan/report.json" ] || run "$reptile" train text --dataset "$dataset" --out "$out-textgan" --ppo-iterations "$PPO_ITERATIONS" \
    --classifier "$out-classifier/classifier.h5" --threads 1 --seed 0 --force $TRAIN_FLAGS
synthetic=$out-textgan-synthetic-t$TEMPERATURE
if [ ! -f "$synthetic/synthetic/dataset_info.json" ]; then
    run "$reptile" generate --run "$out-textgan" --per-class "$SYNTHETIC_PER_CLASS" --temperature "$TEMPERATURE" --seed 0 --threads 1 --force >/dev/null
    rm -rf "$synthetic"; mkdir -p "$synthetic"; mv "$out-textgan/synthetic" "$synthetic/synthetic"
fi
[ -f "$synthetic/cas/report.json" ] || run "$reptile" finetune --scratch --train "$synthetic/synthetic" --eval "$dataset:test" \
    --out "$synthetic/cas" --threads 1 --force >/dev/null
# An epoch is one pass over the first source, here the synthetic texts.
[ -f "$synthetic/real-plus-synthetic$TAG/report.json" ] || run "$reptile" finetune --classifier "$out-classifier/classifier.h5" \
    --train "$synthetic/synthetic" --train "$dataset:train" --mix "$MIX" --epochs "$FINETUNE_EPOCHS" --repeats 3 \
    --eval "$dataset:test" --out "$synthetic/real-plus-synthetic$TAG" --threads 1 --force >/dev/null
run "$reptile" compare real-3-seeds="$out-real-3seeds" synthetic-only="$synthetic/cas" "real+synthetic$TAG"="$synthetic/real-plus-synthetic$TAG"
