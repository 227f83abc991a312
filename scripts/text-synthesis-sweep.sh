#!/usr/bin/env bash
# Measures text synthesis on one dataset (README, `train text`): the MLE and PPO generators at
# several sampling temperatures — quality and diversity (`reptile evaluate` with an independent
# classifier) and usefulness (a text-cnn trained on the synthetic texts only, `finetune --scratch`).
# Every step is a plain `reptile` command, printed before it runs; results stay in outputs/.
#
#   scripts/text-synthesis-sweep.sh trec      # needs datasets/trec (see README for the ingest line)
#
# Environment: TEMPERATURES ("0.6 0.8 1.0 1.2"), PER_CLASS (1000), PPO_FLAGS (extra `train text`
# flags of the PPO run), TAG (names the PPO run outputs/NAME-textgan-ppoTAG), REPEATS (CAS seeds, 1),
# GENERATORS ("mle ppo"), CLASS_PROPORTIONS (uniform).
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
reptile=${REPTILE:-.build/release/reptile}
TEMPERATURES=${TEMPERATURES:-"0.6 0.8 1.0 1.2"}
PER_CLASS=${PER_CLASS:-1000}
PPO_ITERATIONS=${PPO_ITERATIONS:-5}
PPO_FLAGS=${PPO_FLAGS:-}
TAG=${TAG:-}
REPEATS=${REPEATS:-1}
GENERATORS=${GENERATORS:-"mle ppo"}
# uniform (N a class) or train (the real train split's class proportions); a suffix names the sets.
CLASS_PROPORTIONS=${CLASS_PROPORTIONS:-uniform}
suffix=""; [ "$CLASS_PROPORTIONS" = train ] && suffix="-prop"
dataset=datasets/$name
out=outputs/$name
run() { printf '+ %s\n' "$*" >&2; "$@"; }

# The reward classifier (seed 0) and an independent one for agreement (seed 7).
[ -f "$out-classifier/classifier.h5" ] || run "$reptile" pretrain --dataset "$dataset" --out "$out-classifier" --threads 1 --seed 0 --force >/dev/null
[ -f "$out-classifier-seed7/classifier.h5" ] || run "$reptile" pretrain --dataset "$dataset" --out "$out-classifier-seed7" --threads 1 --seed 7 --force >/dev/null
# The same text-cnn on the real train split, 3 seeds (the mark usefulness is measured against).
[ -f "$out-real-3seeds/report.json" ] || run "$reptile" finetune --scratch --train "$dataset" --eval "$dataset:test" --repeats 3 \
    --out "$out-real-3seeds" --threads 1 --force >/dev/null
# MLE generator and discriminator (no PPO); the PPO run continues a copy of it.
[ -f "$out-textgan/report.json" ] || run "$reptile" train text --dataset "$dataset" --out "$out-textgan" --threads 1 --seed 0 --force
ppo_run=$out-textgan-ppo$TAG
if [[ " $GENERATORS " == *" ppo "* ]] && [ ! -f "$ppo_run/.ppo-done" ]; then
    rm -rf "$ppo_run"; cp -r "$out-textgan" "$ppo_run"
    # shellcheck disable=SC2086
    run "$reptile" train text --out "$ppo_run" --resume --ppo-iterations "$PPO_ITERATIONS" \
        --classifier "$out-classifier/classifier.h5" $PPO_FLAGS
    touch "$ppo_run/.ppo-done"
fi
for generator in $GENERATORS; do
    source_run=$out-textgan; [ "$generator" = ppo ] && source_run=$ppo_run
    for temperature in $TEMPERATURES; do
        set_name=$source_run-$generator-t$temperature$suffix
        [ -f "$set_name/cas/report.json" ] && continue
        run "$reptile" generate --run "$source_run" --generator "$generator" --per-class "$PER_CLASS" \
            --temperature "$temperature" --class-proportions "$CLASS_PROPORTIONS" --seed 0 --threads 1 --force >/dev/null
        rm -rf "$set_name"; mkdir -p "$set_name"; mv "$source_run/synthetic" "$set_name/synthetic"
        run "$reptile" evaluate --synthetic "$set_name/synthetic" --dataset "$dataset" \
            --classifier "$out-classifier-seed7/classifier.h5" --threads 1 --out "$set_name/evaluation.json" \
            --html "$set_name/evaluation.html" --force >/dev/null
        run "$reptile" finetune --scratch --train "$set_name/synthetic" --eval "$dataset:test" --repeats "$REPEATS" \
            --out "$set_name/cas" --threads 1 --force >/dev/null
    done
done
