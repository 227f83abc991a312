#!/usr/bin/env bash
# The low-data check of text synthesis (README, `train text`): with a few real texts a class
# (datasets/NAME made by `ingest --per-class N`), does real + synthetic beat real alone?
#
#   scripts/text-low-data.sh sms-100
#
# Steps, each a plain `reptile` command printed before it runs: the text-cnn on the real texts
# (3 seeds; patience = epochs, as an epoch is a handful of steps), the generator (MLE, D, PPO with
# that classifier as reward), SYNTHETIC_PER_CLASS texts a class, a text-cnn on synthetic only, the
# real classifier continued on batches with a MIX share of synthetic texts (3 seeds), and, as the
# control, the same real classifier continued on the real texts alone for CONTROL_EPOCHS (3 seeds;
# 90 real epochs are about as many optimizer steps as the mixed run on trec-100), so that a gain
# is the synthetic texts' and not the extra training's.
# Environment: EPOCHS (40), PPO_ITERATIONS (5), SYNTHETIC_PER_CLASS (1000), TEMPERATURE (0.8),
# MIX (0.5), FINETUNE_EPOCHS (5), CONTROL_EPOCHS (90), SEED (0: the reward classifier, generator,
# generation and the first of the 3 finetune seeds; another seed gets its own folders, so
# SEED=1 and SEED=2 repeat the whole chain), TAG (names the mixed run's folder), TRAIN_FLAGS (extra
# `train text`) with TRAIN_TAG naming its run folder, GENERATE_FLAGS (extra `generate`) with SYNTHETIC_TAG naming its synthetic folder,
# VAL_FRACTION (0.1: every classifier holds out a tenth of its first source for early stopping, as
# when the README's figures were made; `default` leaves it to reptile, which since 2026-12-01 holds
# none out of fewer than 2,000 records; any other value is passed on; not 0.1 gives every folder
# of the chain a -valVALUE suffix).
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
CONTROL_EPOCHS=${CONTROL_EPOCHS:-90}
SEED=${SEED:-0}
TAG=${TAG:-}
TRAIN_FLAGS=${TRAIN_FLAGS:-}
TRAIN_TAG=${TRAIN_TAG:-}
GENERATE_FLAGS=${GENERATE_FLAGS:-}
SYNTHETIC_TAG=${SYNTHETIC_TAG:-}
VAL_FRACTION=${VAL_FRACTION:-0.1}
held_out=(--val-fraction "$VAL_FRACTION")
validation_tag=
[ "$VAL_FRACTION" = 0.1 ] || validation_tag=-val$VAL_FRACTION
[ "$VAL_FRACTION" != default ] || held_out=()
dataset=datasets/$name
baseline=outputs/$name$validation_tag
# Seed 0 keeps the folder names of the first runs; other seeds get their own chain.
out=outputs/$name$validation_tag
[ "$SEED" = 0 ] || out=$out-seed$SEED
run() { printf '+ %s\n' "$*" >&2; "$@"; }

[ -f "$out-classifier/classifier.h5" ] || run "$reptile" pretrain --dataset "$dataset" --out "$out-classifier" "${held_out[@]}" \
    --epochs "$EPOCHS" --patience "$EPOCHS" --threads 1 --seed "$SEED" --force >/dev/null
# The real-only baseline is the same for every SEED: seeds 0, 1, 2.
[ -f "$baseline-real-3seeds/report.json" ] || run "$reptile" finetune --scratch --train "$dataset" --eval "$dataset:test" --repeats 3 "${held_out[@]}" \
    --epochs "$EPOCHS" --patience "$EPOCHS" --out "$baseline-real-3seeds" --threads 1 --force >/dev/null
[ -f "$out-real-continued/report.json" ] || run "$reptile" finetune --classifier "$out-classifier/classifier.h5" --train "$dataset:train" "${held_out[@]}" \
    --epochs "$CONTROL_EPOCHS" --patience "$CONTROL_EPOCHS" --repeats 3 --seed "$SEED" --eval "$dataset:test" --out "$out-real-continued" \
    --threads 1 --force >/dev/null
# shellcheck disable=SC2086
[ -f "$out-textgan$TRAIN_TAG/report.json" ] || run "$reptile" train text --dataset "$dataset" --out "$out-textgan$TRAIN_TAG" --ppo-iterations "$PPO_ITERATIONS" \
    --classifier "$out-classifier/classifier.h5" --threads 1 --seed "$SEED" --force $TRAIN_FLAGS
synthetic=$out-textgan$TRAIN_TAG-synthetic-t$TEMPERATURE$SYNTHETIC_TAG
if [ ! -f "$synthetic/synthetic/dataset_info.json" ]; then
    # shellcheck disable=SC2086
    run "$reptile" generate --run "$out-textgan$TRAIN_TAG" --per-class "$SYNTHETIC_PER_CLASS" --temperature "$TEMPERATURE" --seed "$SEED" --threads 1 \
        --force $GENERATE_FLAGS >/dev/null
    rm -rf "$synthetic"; mkdir -p "$synthetic"; mv "$out-textgan$TRAIN_TAG/synthetic" "$synthetic/synthetic"
fi
[ -f "$synthetic/cas/report.json" ] || run "$reptile" finetune --scratch --train "$synthetic/synthetic" --eval "$dataset:test" "${held_out[@]}" \
    --seed "$SEED" --out "$synthetic/cas" --threads 1 --force >/dev/null
# An epoch is one pass over the first source, here the synthetic texts.
[ -f "$synthetic/real-plus-synthetic$TAG/report.json" ] || run "$reptile" finetune --classifier "$out-classifier/classifier.h5" "${held_out[@]}" \
    --train "$synthetic/synthetic" --train "$dataset:train" --mix "$MIX" --epochs "$FINETUNE_EPOCHS" --repeats 3 \
    --seed "$SEED" --eval "$dataset:test" --out "$synthetic/real-plus-synthetic$TAG" --threads 1 --force >/dev/null
run "$reptile" compare real-3-seeds="$baseline-real-3seeds" real-continued="$out-real-continued" synthetic-only="$synthetic/cas" "real+synthetic$TAG"="$synthetic/real-plus-synthetic$TAG"
