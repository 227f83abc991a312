"""The engine workloads of docs/workloads.md in PyTorch, to compare with `reptile bench`
on the same machine at the same moment (the machine's speed varies; only side-by-side ratios mean
something). Prints the same JSON lines.

    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.15.0
    /tmp/torchenv/bin/python scripts/reference/pytorch_workloads.py --threads 1 W1 W2 W3 W4
    /tmp/torchenv/bin/pip install transformers   # W5 only: BertModel with the real weights
    /tmp/torchenv/bin/python scripts/reference/pytorch_workloads.py --threads 2 W5 --encoder ../shared/models/all-MiniLM-L6-v2
    /tmp/torchenv/bin/pip install transformers gguf accelerate   # W7: SmolLM2-135M from its GGUF file
    /tmp/torchenv/bin/python scripts/reference/pytorch_workloads.py --threads 2 W7
"""
import argparse, json
from timing import median_step
import torch
import torch.nn as nn
import torch.nn.functional as F


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(110, 128 * 7 * 7)
        self.bn0 = nn.BatchNorm1d(128 * 7 * 7)
        self.deconv1 = nn.ConvTranspose2d(128, 64, 4, 2, 1)
        self.bn1 = nn.BatchNorm2d(64)
        self.deconv2 = nn.ConvTranspose2d(64, 1, 4, 2, 1)

    def forward(self, z, onehot):
        x = F.relu(self.bn0(self.fc(torch.cat([z, onehot], 1)))).view(-1, 128, 7, 7)
        return torch.tanh(self.deconv2(F.relu(self.bn1(self.deconv1(x)))))


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 64, 4, 2, 1)
        self.conv2 = nn.Conv2d(64, 128, 4, 2, 1)
        self.bn2 = nn.BatchNorm2d(128)
        self.adv = nn.Linear(6272, 1)
        self.aux = nn.Linear(6272, 10)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.bn2(self.conv2(x)), 0.2).flatten(1)
        return self.adv(x), self.aux(x)


def w1():
    g, d = Generator(), Discriminator()
    og = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
    real = torch.rand(64, 1, 28, 28) * 2 - 1
    labels = torch.arange(64) % 10
    onehot = F.one_hot(labels, 10).float()
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)

    def step():
        z = torch.randn(64, 100)
        fake = g(z, onehot)
        od.zero_grad()
        real_logit, real_class = d(real)
        fake_logit, fake_class = d(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(real_logit, ones) + F.binary_cross_entropy_with_logits(fake_logit, zeros)
                  + F.cross_entropy(real_class, labels) + F.cross_entropy(fake_class, labels))
        loss_d.backward()
        od.step()
        og.zero_grad()
        fake_logit, fake_class = d(fake)
        loss_g = F.binary_cross_entropy_with_logits(fake_logit, ones) + F.cross_entropy(fake_class, labels)
        loss_g.backward()
        og.step()
    return "images_per_s", 64 / median_step(step)


def w2():
    embedding, classes = nn.Embedding(5000, 128), nn.Embedding(10, 256)
    gru, output = nn.GRU(128, 256, batch_first=True), nn.Linear(256, 5000)
    parameters = list(embedding.parameters()) + list(classes.parameters()) + list(gru.parameters()) + list(output.parameters())
    optimizer = torch.optim.Adam(parameters, 1e-3)
    tokens = torch.randint(0, 5000, (64, 33))
    labels = torch.arange(64) % 10

    def step():
        optimizer.zero_grad()
        states, _ = gru(embedding(tokens[:, :-1]), classes(labels).unsqueeze(0))
        loss = F.cross_entropy(output(states).reshape(-1, 5000), tokens[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
    return "tokens_per_s", 64 * 32 / median_step(step)


class TextDiscriminator(nn.Module):
    """W3's reward model: embedding 64, Conv1d widths 3, 4, 5 with 100 channels each, ReLU, max over
    time, concat 300 -> Linear(300 -> 1)."""
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(5000, 64)
        self.convolutions = nn.ModuleList([nn.Conv1d(64, 100, width) for width in (3, 4, 5)])
        self.output = nn.Linear(300, 1)

    def forward(self, tokens):
        x = self.embedding(tokens).transpose(1, 2)
        pooled = [F.relu(convolution(x)).amax(dim=2) for convolution in self.convolutions]
        return self.output(torch.cat(pooled, 1)).squeeze(1)


def w3():
    """One PPO iteration of the W2 generator (the engine's `TextPolicyOptimizer` in `reptile bench W3`):
    sample 64 x 32 tokens (classes round-robin, token 0 as the start), reward at the last token from
    the W3 CNN, GAE (gamma 1, lambda 0.95), 4 epochs of minibatches of 32, clip 0.2, value 0.5,
    entropy 0.01; median of 10 timed iterations, as `reptile bench W3`."""
    embedding, classes = nn.Embedding(5000, 128), nn.Embedding(10, 256)
    gru, output, value_head = nn.GRU(128, 256, batch_first=True), nn.Linear(256, 5000), nn.Linear(256, 1)
    discriminator = TextDiscriminator().requires_grad_(False)
    modules = [embedding, classes, gru, output, value_head]
    optimizer = torch.optim.Adam([p for m in modules for p in m.parameters()], 1e-5)
    labels, length, rollouts = torch.arange(64) % 10, 32, 64

    def iteration():
        with torch.no_grad():
            hidden, token = classes(labels).unsqueeze(0), torch.zeros(rollouts, dtype=torch.long)
            tokens, old_log_probs, values = [], [], []
            for _ in range(length):
                states, hidden = gru(embedding(token).unsqueeze(1), hidden)
                distribution = torch.distributions.Categorical(logits=output(states[:, 0]))
                token = distribution.sample()
                tokens.append(token)
                old_log_probs.append(distribution.log_prob(token))
                values.append(value_head(states[:, 0]).squeeze(1))
            sequences, old_log_probs, values = torch.stack(tokens, 1), torch.stack(old_log_probs, 1), torch.stack(values, 1)
            rewards = torch.zeros(rollouts, length)
            rewards[:, -1] = discriminator(sequences)
            advantages, running = torch.zeros(rollouts, length), torch.zeros(rollouts)
            for t in reversed(range(length)):
                next_value = values[:, t + 1] if t + 1 < length else torch.zeros(rollouts)
                running = rewards[:, t] + next_value - values[:, t] + 0.95 * running
                advantages[:, t] = running
            returns = advantages + values
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            inputs = torch.cat([torch.zeros(rollouts, 1, dtype=torch.long), sequences[:, :-1]], 1)
        for _ in range(4):
            for batch in torch.randperm(rollouts).split(32):
                states, _ = gru(embedding(inputs[batch]), classes(labels[batch]).unsqueeze(0))
                log_probs_all = F.log_softmax(output(states), -1)
                log_probs = log_probs_all.gather(2, sequences[batch].unsqueeze(2)).squeeze(2)
                ratio = torch.exp(log_probs - old_log_probs[batch])
                surrogate = -torch.min(ratio * advantages[batch], ratio.clamp(0.8, 1.2) * advantages[batch]).mean()
                value_loss = F.mse_loss(value_head(states).squeeze(2), returns[batch])
                entropy = -(log_probs_all.exp() * log_probs_all).sum(-1).mean()
                optimizer.zero_grad()
                (surrogate + 0.5 * value_loss - 0.01 * entropy).backward()
                optimizer.step()
    return "sequences_per_s", rollouts / median_step(iteration, steps=10)


def w4():
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    images, labels = torch.randn(128, 1, 28, 28), torch.arange(128) % 10

    def step():
        optimizer.zero_grad()
        F.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return "images_per_s", 128 / median_step(step)


def w5(encoder):
    """all-MiniLM-L6-v2 at sequence 64, batch 32: mean pooling, Linear(384 -> 2), cross-entropy,
    AdamW(2e-5) over every weight (dropout on), then the forward pass alone without gradients.
    Returns two (metric, value) pairs, as `reptile bench W5` prints two lines."""
    from transformers import BertModel
    model = BertModel.from_pretrained(encoder, add_pooling_layer=False)
    head = nn.Linear(model.config.hidden_size, 2)
    optimizer = torch.optim.AdamW(list(model.parameters()) + list(head.parameters()), lr=2e-5)
    ids = torch.randint(1000, model.config.vocab_size, (32, 64))
    mask = torch.ones(32, 64, dtype=torch.long)
    labels = torch.arange(32) % 2

    def pooled():
        hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).float()
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)

    def train_step():
        optimizer.zero_grad()
        F.cross_entropy(head(pooled()), labels).backward()
        optimizer.step()

    def embed_step():
        with torch.no_grad():
            pooled()

    model.train()
    train = 32 / median_step(train_step)
    model.eval()
    embed = 32 / median_step(embed_step)
    return [("train_sequences_per_s", train), ("embed_sequences_per_s", embed)]


def w7(model_dir):
    """W7: SmolLM2-135M through transformers' GGUF loader (dequantised to float32). Training: batch
    8 x 64 random ids, causal LM loss at every position, AdamW(1e-5, 0.01) over every weight (5
    warm-up, 20 timed). Generation: 32 prompts of 16 random ids, 48 new tokens each, temperature 1,
    top-p 0.95, the key/value cache (2 warm-up, 5 timed). Returns two (metric, value) pairs."""
    import glob, os
    from transformers import AutoModelForCausalLM
    gguf = os.path.basename(glob.glob(os.path.join(model_dir, "*.gguf"))[0])
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=gguf, dtype=torch.float32)
    vocabulary = model.config.vocab_size
    prompts = torch.randint(0, vocabulary, (32, 16))
    model.eval()

    def generate_step():
        with torch.no_grad():
            model.generate(prompts, attention_mask=torch.ones_like(prompts), do_sample=True, temperature=1.0, top_p=0.95,
                           top_k=0, max_new_tokens=48, min_new_tokens=48, pad_token_id=0)

    generate = 32 * 48 / median_step(generate_step, warmup=2, steps=5)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.01)
    ids = torch.randint(0, vocabulary, (8, 65))

    def train_step():
        optimizer.zero_grad()
        logits = model(ids[:, :-1]).logits
        F.cross_entropy(logits.reshape(-1, vocabulary), ids[:, 1:].reshape(-1)).backward()
        optimizer.step()

    train = 8 * 64 / median_step(train_step, warmup=5, steps=20)
    return [("train_tokens_per_s", train), ("generate_tokens_per_s", generate)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("workloads", nargs="*", default=["W1", "W2", "W4"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--encoder", default="../shared/models/all-MiniLM-L6-v2", help="W5's Hugging Face model folder")
    parser.add_argument("--language-model", default="../shared/models/SmolLM2-135M-Instruct", help="W7's folder with one .gguf file")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)
    for name in arguments.workloads:
        if name == "W5":
            results = w5(arguments.encoder)
        elif name == "W7":
            results = w7(arguments.language_model)
        else:
            results = [{"W1": w1, "W2": w2, "W3": w3, "W4": w4}[name]()]
        for metric, value in results:
            print(json.dumps({"workload": name, "metric": metric, "value": round(value, 1), "steps": {"W3": 10, "W7": 20 if metric.startswith("train") else 5}.get(name, 50),
                              "threads": arguments.threads, "framework": "pytorch " + torch.__version__}))
