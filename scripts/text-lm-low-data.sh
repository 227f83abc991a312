#!/usr/bin/env bash
# The low-data check of the language-model text generator: with a few real texts a class
# (datasets/NAME made by `ingest text --per-class N`), does MiniLM trained on real + synthetic
# texts beat MiniLM trained on the real texts alone for as many steps?
#
#   scripts/text-lm-low-data.sh trec-10          # SEED=1, SEED=2 repeat the chain with other seeds
#
# Each stage is a plain `reptile` command printed before it runs, with its wall time:
#   1. pretrain --encoder: MiniLM on the real texts (the classifier `generate` takes confidence from)
#   2. train text --generator lm: SmolLM2-135M with LoRA on the class-prompted real texts
#   3. generate: SYNTHETIC_PER_CLASS texts a class at TEMPERATURE (copies of training texts dropped)
#   4. finetune --encoder on synthetic + real (MIX of each batch synthetic) for MIXED_EPOCHS passes
#      over the synthetic texts
#   5. the control: finetune --encoder on the real texts alone for CONTROL_EPOCHS, about as many
#      optimizer steps as stage 4 (printed at the end), and the real-only default recipe
# Environment: SEED (0), SYNTHETIC_PER_CLASS (100), TEMPERATURE (0.8), MIX (0.5), MIXED_EPOCHS (6),
# CONTROL_EPOCHS (0: computed from stage 4's steps), THREADS (2), ENCODER (models/all-MiniLM-L6-v2,
# else ../shared/models/all-MiniLM-L6-v2).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
reptile=${REPTILE:-.build/release/reptile}
SEED=${SEED:-0}
SYNTHETIC_PER_CLASS=${SYNTHETIC_PER_CLASS:-100}
TEMPERATURE=${TEMPERATURE:-0.8}
MIX=${MIX:-0.5}
MIXED_EPOCHS=${MIXED_EPOCHS:-6}
CONTROL_EPOCHS=${CONTROL_EPOCHS:-0}
THREADS=${THREADS:-2}
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
steps_of() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['runs'][0]['training']['steps'])" "$1"; }

# A stage whose output exists is skipped, so a rerun continues where a killed one stopped.
[ -f "$out-classifier/report.json" ] || run "$reptile" pretrain --dataset "$dataset" --encoder "$ENCODER" --out "$out-classifier" "${common[@]}"
[ -f "$out-generator/report.json" ] || run "$reptile" train text --generator lm --dataset "$dataset" --out "$out-generator" "${common[@]}"
[ -f "$out-generator/synthetic/dataset_info.json" ] || run "$reptile" generate --run "$out-generator" --per-class "$SYNTHETIC_PER_CLASS" --temperature "$TEMPERATURE" \
    --classifier "$out-classifier/classifier.h5" "${common[@]}"
[ -f "$out-real-plus-synthetic/report.json" ] || run "$reptile" finetune --encoder "$ENCODER" --train "$out-generator/synthetic" --train "$dataset:train" --mix "$MIX" \
    --epochs "$MIXED_EPOCHS" --patience "$MIXED_EPOCHS" --eval "$dataset:test" --out "$out-real-plus-synthetic" "${common[@]}"
if [ "$CONTROL_EPOCHS" = 0 ]; then
    mixed_steps=$(steps_of "$out-real-plus-synthetic/report.json")
    real_count=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['splits']['train']['count'])" "$dataset/dataset_info.json")
    CONTROL_EPOCHS=$(( (mixed_steps * 32 + real_count - 1) / real_count ))
fi
[ -f "$out-real-as-long/report.json" ] || run "$reptile" finetune --encoder "$ENCODER" --train "$dataset" --epochs "$CONTROL_EPOCHS" --patience "$CONTROL_EPOCHS" \
    --eval "$dataset:test" --out "$out-real-as-long" "${common[@]}"
[ -f "$out-real-default/report.json" ] || run "$reptile" finetune --encoder "$ENCODER" --train "$dataset" --eval "$dataset:test" --out "$out-real-default" "${common[@]}"
"$reptile" compare real-default="$out-real-default" real-as-long="$out-real-as-long" real+synthetic="$out-real-plus-synthetic"
