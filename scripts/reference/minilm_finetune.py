"""The recipe of `reptile pretrain --encoder DIR` in PyTorch + transformers, on a dataset that
`reptile ingest text` wrote, to say how close Reptile's MiniLM classifier comes to the reference
implementation (issue 4: "Compare with a PyTorch/transformers run of the same recipe").

Recipe (as Reptile's defaults, see README "pretrain"): all-MiniLM-L6-v2, [CLS] … [SEP] cut at 64
tokens, mean pooling over the attention mask, a linear head; AdamW (weight decay 0.01 on every parameter) at 2e-5 for
the encoder and 1e-3 for the head, 10 % linear warm-up then linear decay, gradient norm clipped at
1, batch 32, dropout as the model's config; 10 % of train held out (seeded) for choosing the best
epoch; accuracy on the test split.

    python3 -m venv --system-site-packages /tmp/torchenv
    /tmp/torchenv/bin/pip install torch==2.15.0 transformers
    /tmp/torchenv/bin/python scripts/reference/minilm_finetune.py datasets/trec-100 --seeds 0 1 2
"""
import argparse, glob, json, os, statistics
import h5py
import numpy as np
import torch
import torch.nn as nn
from transformers import AutoModel, AutoTokenizer


def read_split(dataset, split):
    texts, labels = [], []
    for path in sorted(glob.glob(os.path.join(dataset, f"{split}-*.h5"))):
        with h5py.File(path, "r") as shard:
            texts += [t.decode("utf-8") for t in shard["texts"][:]]
            labels += [int(x) for x in shard["labels"][:]]
    return texts, np.array(labels)


class Classifier(nn.Module):
    def __init__(self, encoder_folder, class_count):
        super().__init__()
        self.encoder = AutoModel.from_pretrained(encoder_folder)
        self.head = nn.Linear(self.encoder.config.hidden_size, class_count)

    def forward(self, ids, mask):
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).float()
        return self.head((hidden * weights).sum(1) / weights.sum(1).clamp(min=1))


def accuracy(model, tokenizer, texts, labels, max_length):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start:start + 64], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            predictions = model(batch["input_ids"], batch["attention_mask"]).argmax(1).numpy()
            correct += int((predictions == labels[start:start + 64]).sum())
    return correct / len(texts)


def run(arguments, seed):
    torch.manual_seed(seed)
    random = np.random.default_rng(seed)
    texts, labels = read_split(arguments.dataset, "train")
    test_texts, test_labels = read_split(arguments.dataset, "test")
    order = random.permutation(len(texts))
    held = max(1, int(round(0.1 * len(texts))))
    validation, training = order[:held], order[held:]
    class_count = int(max(labels.max(), test_labels.max())) + 1
    tokenizer = AutoTokenizer.from_pretrained(arguments.encoder)
    model = Classifier(arguments.encoder, class_count)
    # Weight decay on every parameter, biases and layer norms included, as Reptile's AdamW does.
    groups = [{"params": list(model.encoder.parameters()), "lr": 2e-5, "weight_decay": 0.01},
              {"params": list(model.head.parameters()), "lr": 1e-3, "weight_decay": 0.01}]
    optimizer = torch.optim.AdamW(groups)
    steps_per_epoch = (len(training) + arguments.batch_size - 1) // arguments.batch_size
    total = steps_per_epoch * arguments.epochs
    warmup = max(1, round(0.1 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: (step + 1) / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup)))
    best = (-1.0, None)
    for epoch in range(arguments.epochs):
        model.train()
        shuffled = training[random.permutation(len(training))]
        for start in range(0, len(shuffled), arguments.batch_size):
            rows = shuffled[start:start + arguments.batch_size]
            batch = tokenizer([texts[i] for i in rows], padding=True, truncation=True, max_length=arguments.max_length,
                              return_tensors="pt")
            loss = nn.functional.cross_entropy(model(batch["input_ids"], batch["attention_mask"]), torch.tensor(labels[rows]))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
        validation_accuracy = accuracy(model, tokenizer, [texts[i] for i in validation], labels[validation], arguments.max_length)
        if validation_accuracy > best[0]:
            best = (validation_accuracy, {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[1])
    return accuracy(model, tokenizer, test_texts, test_labels, arguments.max_length)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset")
    parser.add_argument("--encoder", default="../shared/models/all-MiniLM-L6-v2")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    results = [run(arguments, seed) for seed in arguments.seeds]
    print(json.dumps({"dataset": arguments.dataset, "framework": "pytorch+transformers", "epochs": arguments.epochs,
                      "test_accuracy": results, "mean": statistics.mean(results),
                      "std": statistics.stdev(results) if len(results) > 1 else 0.0}))


if __name__ == "__main__":
    main()
