#!/usr/bin/env bash
# The low-data check of the language-model text generator: with a few real texts a class
# (datasets/NAME made by `ingest text --per-class N`), does MiniLM trained on real + synthetic
# texts beat MiniLM trained on the real texts alone for as many steps?
#
#   scripts/text-lm-low-data.sh trec-10          # SEED=1, SEED=2 repeat the chain with other seeds
#
# Each stage is a plain `reptile` command printed before it runs, with its wall time:
#   1. the control: finetune --encoder (MiniLM) on the real texts alone for as many optimizer steps
#      as stage 4 will take (CONTROL_EPOCHS), and the real-only default recipe
#   2. train text --generator lm: SmolLM2-135M with LoRA on the class-prompted real texts
#   3. generate: SYNTHETIC_PER_CLASS texts a class at TEMPERATURE, kept when the control's
#      classifier gives the intended class at least MIN_CONFIDENCE (LAMBADA's filter; real data only)
#   4. finetune --encoder on synthetic + real (MIX of each batch synthetic) for MIXED_EPOCHS passes
#      over the synthetic texts
# Environment: SEED (0), SYNTHETIC_PER_CLASS (100), TEMPERATURE (0.8), MIN_CONFIDENCE (0.5; 0 keeps
# every text), MIX (0.5), MIXED_EPOCHS (6), THREADS (2), TAG (names the generated folders),
# ENCODER (models/all-MiniLM-L6-v2, else ../shared/models/all-MiniLM-L6-v2).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
reptile=${REPTILE:-.build/release/reptile}
SEED=${SEED:-0}
SYNTHETIC_PER_CLASS=${SYNTHETIC_PER_CLASS:-100}
TEMPERATURE=${TEMPERATURE:-0.8}
MIN_CONFIDENCE=${MIN_CONFIDENCE:-0.5}
MIX=${MIX:-0.5}
MIXED_EPOCHS=${MIXED_EPOCHS:-6}
THREADS=${THREADS:-2}
TAG=${TAG:-}
ENCODER=${ENCODER:-models/all-MiniLM-L6-v2}
[ -d "$ENCODER" ] || ENCODER=../shared/models/all-MiniLM-L6-v2
dataset=datasets/$name
out=outputs/$name-lm-seed$SEED
common=(--seed "$SEED" --threads "$THREADS" --force)
run() {
    printf '+ %s\n' "$*" >&2
    local start=$SECONDS
    "$@" >/dev/null
    printf '  (%d s)\n' $((SECONDS - start)) >&2
}
# Stage 4's steps: MIXED_EPOCHS passes over the synthetic texts, MIX·32 of them a batch (MiniLM's
# batch is 32); the control trains on the real texts alone for as many.
read -r classes real_count < <(python3 -c "import json,sys; i=json.load(open(sys.argv[1])); print(len(i['class_names']), i['splits']['train']['count'])" "$dataset/dataset_info.json")
per_batch=$(python3 -c "print(max(1, round(32 * $MIX)))")
mixed_steps=$(( MIXED_EPOCHS * ( (SYNTHETIC_PER_CLASS * classes + per_batch - 1) / per_batch ) ))
CONTROL_EPOCHS=$(( (mixed_steps * 32 + real_count - 1) / real_count ))

# A stage whose output exists is skipped, so a rerun continues where a killed one stopped.
[ -f "$out-real-as-long/report.json" ] || run "$reptile" finetune --encoder "$ENCODER" --train "$dataset" --epochs "$CONTROL_EPOCHS" \
    --patience "$CONTROL_EPOCHS" --eval "$dataset:test" --out "$out-real-as-long" "${common[@]}"
[ -f "$out-real-default/report.json" ] || run "$reptile" finetune --encoder "$ENCODER" --train "$dataset" --eval "$dataset:test" \
    --out "$out-real-default" "${common[@]}"
[ -f "$out-generator/report.json" ] || run "$reptile" train text --generator lm --dataset "$dataset" --out "$out-generator" "${common[@]}"
synthetic=$out-synthetic$TAG
if [ ! -f "$synthetic/dataset_info.json" ]; then
    run "$reptile" generate --run "$out-generator" --per-class "$SYNTHETIC_PER_CLASS" --temperature "$TEMPERATURE" \
        --classifier "$out-real-as-long/classifier.h5" --min-confidence "$MIN_CONFIDENCE" "${common[@]}"
    rm -rf "$synthetic"; mv "$out-generator/synthetic" "$synthetic"
fi
[ -f "$out-real-plus-synthetic$TAG/report.json" ] || run "$reptile" finetune --encoder "$ENCODER" --train "$synthetic" \
    --train "$dataset:train" --mix "$MIX" --epochs "$MIXED_EPOCHS" --patience "$MIXED_EPOCHS" --eval "$dataset:test" \
    --out "$out-real-plus-synthetic$TAG" "${common[@]}"
"$reptile" compare real-default="$out-real-default" real-as-long="$out-real-as-long" real+synthetic="$out-real-plus-synthetic$TAG"
