#!/usr/bin/env python3
"""Prints the README's quality–diversity and usefulness table of one dataset from the outputs of
scripts/text-synthesis-sweep.sh: python3 scripts/text-synthesis-table.py outputs/trec"""
import glob, json, os, re, sys

prefix = sys.argv[1]
def load(path):
    with open(path) as handle:
        return json.load(handle)

def key(row, *names):
    for name in names:
        if name in row:
            return row[name]
    return None

real = load(f"{prefix}-real-3seeds/report.json")["summary"]
real_mean = real["accuracy"]["mean"]
print(f"real train split, text-cnn, 3 seeds: {100*real_mean:.2f} ± {100*real['accuracy']['std']:.2f} %, macro-F1 {real['macro_f1']['mean']:.3f} ± {real['macro_f1']['std']:.3f}")
for run in sorted(glob.glob(f"{prefix}-textgan*/report.json")):
    report = load(run)
    print(os.path.dirname(run), {k: v for k, v in report.items() if "perplexity" in k})
print()
print("| generator | T | BLEU-2 / 3 / 4 | Self-BLEU-2 / 3 / 4 | distinct-2 | copies % | novel 4-grams % | agrees % | synthetic-only accuracy % (seed 0) | 3 seeds | of real % | macro-F1 (seed 0) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
rows = []
for evaluation in glob.glob(f"{prefix}-textgan*-t*/evaluation.json"):
    folder = os.path.dirname(evaluation)
    match = re.search(r"textgan(-ppo[^/]*)?-(mle|ppo)-t([0-9.]+)(-prop)?$", folder)
    run_tag, generator, temperature = match.group(1) or "", match.group(2), float(match.group(3))
    overall = load(evaluation)["overall"]
    if not os.path.exists(f"{folder}/cas/report.json"):
        continue
    cas = load(f"{folder}/cas/report.json")["summary"]
    name = (generator if generator == "mle" else "ppo" + run_tag[4:]) + (" (train proportions)" if match.group(4) else "")
    three = load(f"{folder}/cas3/report.json")["summary"] if os.path.exists(f"{folder}/cas3/report.json") else None
    rows.append((name, temperature, overall, cas, three))
evaluations = glob.glob(f"{prefix}-textgan*-t*/evaluation.json")
if evaluations:
    t = load(evaluations[0])["real_test"][0]
    print(f"| (real test split, {t['records']}) | | | {t['self_bleu2']:.3f} / {t['self_bleu3']:.3f} / {t['self_bleu4']:.3f} | "
          f"{t['distinct2']:.3f} | {100*t['copy_share']:.1f} | {100*t['novel_four_gram_share']:.1f} | | | | | |")
for name, temperature, o, cas, three in sorted(rows, key=lambda r: (r[0], r[1])):
    def g(*names):
        return key(o, *names)
    accuracy = cas["accuracy"]
    text = f"{100*accuracy['mean']:.1f}"
    seeds = f"{100*three['accuracy']['mean']:.1f} ± {100*three['accuracy']['std']:.1f}" if three else ""
    best = three["accuracy"]["mean"] if three else accuracy["mean"]
    print(f"| {name} | {temperature:g} | {g('bleu2'):.3f} / {g('bleu3'):.3f} / {g('bleu4'):.3f} | "
          f"{g('self_bleu2','selfBleu2'):.3f} / {g('self_bleu3','selfBleu3'):.3f} / {g('self_bleu4','selfBleu4'):.3f} | "
          f"{g('distinct2'):.3f} | {100*g('copy_share','copyShare'):.1f} | {100*g('novel_four_gram_share','novelFourGramShare'):.1f} | "
          f"{100*g('classifier_agreement','classifierAgreement'):.1f} | {text} | {seeds} | {100*best/real_mean:.0f} | {cas['macro_f1']['mean']:.3f} |")
