"""Golden values for `reptile evaluate`: BLEU / Self-BLEU from nltk, PRDC from the `prdc` package.

Run (needs nltk, numpy and prdc; the Swift tests themselves do not):
    python3 -m venv /tmp/evalenv && /tmp/evalenv/bin/pip install nltk==3.10.4 numpy prdc==0.2
    /tmp/evalenv/bin/python scripts/reference/evaluation_metrics.py ../shared/datasets > Tests/Golden/evaluation-golden.json

BLEU is exactly what Texygen (and the SeqGAN / LeakGAN / RelGAN papers through it) computes:
    sentence_bleu(references, hypothesis, weights=(1/n,)*n, smoothing_function=SmoothingFunction().method1)
per hypothesis, averaged; Self-BLEU takes every other text of the set as the references.
Texts are tokenised as Reptile's WordTokenizer does (lower-cased runs of letters and digits, an
apostrophe inside a word kept, every other non-space character a token of its own); the tokens are
stored too, so the Swift test also checks the tokenisation. PRDC (k nearest neighbours) is
checked against a direct numpy transcription of Naeem et al. (2020) before it is written.
EvaluationGoldenTests.swift reads the JSON.
"""
import contextlib
import json
import math
import os
import re
import sys

import numpy as np
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from prdc import compute_prdc

smoothing = SmoothingFunction().method1


def tokens(text):
    # WordTokenizer for ASCII text: words of letters/digits (with an inner apostrophe), or one other non-space character.
    return re.findall(r"[a-z0-9]+(?:'[a-z][a-z0-9]*)*|[^\sa-z0-9]", text.lower())


def bleu(references, hypothesis):
    return {str(n): sentence_bleu(references, hypothesis, weights=(1.0 / n,) * n, smoothing_function=smoothing)
            for n in (2, 3, 4)}


def mean(dicts):
    return {key: float(np.mean([d[key] for d in dicts])) for key in dicts[0]}


def split_words(text):
    return text.split()


hand_made = [
    ("identical", ["the cat sat on the mat".split()], "the cat sat on the mat".split()),
    ("zero overlap", ["the cat sat on the mat".split()], "a dog ran in a park".split()),
    ("one token", ["the cat sat on the mat".split()], ["cat"]),
    ("two tokens", ["the cat sat on the mat".split()], ["the", "cat"]),
    ("three tokens", ["the cat sat on the mat".split()], ["the", "cat", "ran"]),
    ("empty hypothesis", ["the cat sat".split()], []),
    ("clipped repeats", ["the cat is on the mat".split()], "the the the the the the the".split()),
    ("longer than references", ["a b c".split()], "a b c d e f g h".split()),
    ("multiple references", ["it is a guide to action which ensures that the military always obeys the commands of the party".split(),
                             "it is the guiding principle which guarantees the military forces always being under the command of the party".split(),
                             "it is the practical guide for the army always to heed the directions of the party".split()],
     "it is a guide to action that ensures that the military will forever heed party commands".split()),
    ("closest length tie", ["a b c d".split(), "a b c d e f".split()], "a b c x y".split()),
    ("unigrams only", ["x y z w".split(), "w z y x".split()], "y x w z".split()),
]
bleu_cases = [{"name": name, "references": refs, "hypothesis": hyp, "bleu": bleu(refs, hyp)} for name, refs, hyp in hand_made]

shared = sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets"
with open(os.path.join(shared, "trec", "TREC_10.label"), encoding="ascii") as handle:
    test_texts = [line.split(" ", 1)[1].strip() for line in handle if line.strip()]
with open(os.path.join(shared, "trec", "train_5500.label"), encoding="latin-1") as handle:
    train_texts = [line.split(" ", 1)[1].strip() for line in handle if line.strip() and line.isascii()]
references = test_texts[:60]
hypotheses = train_texts[:12]
reference_tokens = [tokens(t) for t in references]
real_bleu = [bleu(reference_tokens, tokens(h)) for h in hypotheses]

# Self-BLEU over a set with a repeated text (a duplicate stays a reference for its twin).
self_texts = train_texts[100:130] + [train_texts[105]]
self_tokens = [tokens(t) for t in self_texts]
self_scores = [bleu(self_tokens[:i] + self_tokens[i + 1:], self_tokens[i]) for i in range(len(self_tokens))]

real_text = {
    "references": references, "reference_tokens": reference_tokens,
    "hypotheses": hypotheses, "hypothesis_tokens": [tokens(h) for h in hypotheses],
    "bleu": real_bleu, "mean_bleu": mean(real_bleu),
    "self_bleu_texts": self_texts, "self_bleu_tokens": self_tokens,
    "self_bleu": self_scores, "mean_self_bleu": mean(self_scores),
}


def transcription(real, fake, k):
    """Naeem et al. (2020), Eq. 1-4, in float64 with exact pairwise distances."""
    def distances(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    real_radii = np.sort(distances(real, real), axis=1)[:, k]
    fake_radii = np.sort(distances(fake, fake), axis=1)[:, k]
    real_fake = distances(real, fake)
    inside_real = real_fake < real_radii[:, None]
    return {
        "precision": float(inside_real.any(axis=0).mean()),
        "recall": float((real_fake < fake_radii[None, :]).any(axis=1).mean()),
        "density": float(inside_real.sum(axis=0).mean() / k),
        "coverage": float((real_fake.min(axis=1) < real_radii).mean()),
        "mean_pairwise_real": float(distances(real, real)[np.triu_indices(len(real), 1)].mean()),
        "mean_pairwise_fake": float(distances(fake, fake)[np.triu_indices(len(fake), 1)].mean()),
    }


generator = np.random.default_rng(2026)
prdc_cases = []
for name, real, fake, k in [
    ("overlapping gaussians", generator.normal(size=(40, 5)), generator.normal(0.5, 1.2, size=(50, 5)), 5),
    ("collapsed fakes", generator.normal(size=(30, 8)), generator.normal(0, 0.1, size=(30, 8)), 5),
    ("shifted, k 3", generator.normal(size=(25, 3)), generator.normal(1.5, 1.0, size=(20, 3)), 3),
]:
    expected = transcription(real, fake, k)
    with contextlib.redirect_stdout(sys.stderr):  # prdc prints the set sizes
        package = compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
    for key in ("precision", "recall", "density", "coverage"):
        assert math.isclose(expected[key], float(package[key]), abs_tol=1e-12), (name, key, expected[key], package[key])
    prdc_cases.append({"name": name, "k": k, "real": real.tolist(), "fake": fake.tolist(), **expected})

sys.stderr.write("checked %d PRDC cases against prdc\n" % len(prdc_cases))
print(json.dumps({"bleu_cases": bleu_cases, "real_text": real_text, "prdc_cases": prdc_cases}, indent=1))
