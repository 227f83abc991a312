"""Golden values for the engine: a tiny fixed network computed once with PyTorch.

Run (needs torch; the tests themselves do not):
    python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch==2.15.0 numpy
    /tmp/torchenv/bin/python Tests/Golden/make_golden.py > Tests/Golden/engine-golden.json

Each case lists its inputs and parameters (fixed, from a seeded generator), the forward values at
named points, the loss, and the gradient of the loss with respect to every input and parameter.
EngineGoldenTests.swift builds the same network from Reptile's ops and compares.
"""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(2026)
torch.set_default_dtype(torch.float32)


def values(tensor):
    return [round(float(v), 9) for v in tensor.detach().reshape(-1).tolist()]


def leaf(shape, scale=1.0):
    return (torch.randn(*shape) * scale).requires_grad_(True)


def dump(tensors):
    return {name: {"shape": list(t.shape), "values": values(t)} for name, t in tensors.items()}


def gradients(tensors):
    return {name: {"shape": list(t.shape), "values": values(t.grad)} for name, t in tensors.items()}


cases = {}

# Case 1: a classifier path. Conv (stride 1, padding 1) -> batch-norm (training) -> LeakyReLU ->
# conv (k4, stride 2, padding 1) -> ReLU -> max-pool -> flatten -> linear -> GELU -> layer-norm ->
# linear -> cross-entropy with label smoothing.
inputs = {"x": leaf([2, 1, 8, 8])}
parameters = {
    "conv1.weight": leaf([3, 1, 3, 3], 0.5), "conv1.bias": leaf([3], 0.1),
    "norm1.weight": (1 + 0.1 * torch.randn(3)).requires_grad_(True), "norm1.bias": leaf([3], 0.1),
    "conv2.weight": leaf([4, 3, 4, 4], 0.3), "conv2.bias": leaf([4], 0.1),
    "fc1.weight": leaf([6, 16], 0.4), "fc1.bias": leaf([6], 0.1),
    "ln.weight": (1 + 0.1 * torch.randn(6)).requires_grad_(True), "ln.bias": leaf([6], 0.1),
    "fc2.weight": leaf([3, 6], 0.5), "fc2.bias": leaf([3], 0.1),
}
labels = [2, 0]
p = parameters
running_mean, running_var = torch.zeros(3), torch.ones(3)
h1 = F.conv2d(inputs["x"], p["conv1.weight"], p["conv1.bias"], stride=1, padding=1)
h2 = F.batch_norm(h1, running_mean, running_var, p["norm1.weight"], p["norm1.bias"], training=True, momentum=0.1, eps=1e-5)
h3 = F.leaky_relu(h2, 0.2)
h4 = F.relu(F.conv2d(h3, p["conv2.weight"], p["conv2.bias"], stride=2, padding=1))
h5 = F.max_pool2d(h4, 2)
h6 = F.gelu(F.linear(h5.reshape(2, 16), p["fc1.weight"], p["fc1.bias"]))
h7 = F.layer_norm(h6, [6], p["ln.weight"], p["ln.bias"], eps=1e-5)
logits = F.linear(h7, p["fc2.weight"], p["fc2.bias"])
loss = F.cross_entropy(logits, torch.tensor(labels), label_smoothing=0.1)
loss.backward()
cases["classifier"] = {
    "inputs": dump(inputs), "parameters": dump(parameters), "labels": labels,
    "forward": dump({"conv1": h1, "norm1": h2, "conv2_relu": h4, "pool": h5, "gelu": h6, "layer_norm": h7, "logits": logits}),
    "running": dump({"mean": running_mean, "var": running_var}),
    "loss": float(loss.detach()),
    "gradients": gradients({**inputs, **parameters}),
}

# Case 2: a generator path. Linear -> reshape -> batch-norm (training) -> ReLU -> transposed conv
# (k4, stride 2, padding 1) -> tanh; loss = MSE to a target + BCE-with-logits of a linear head.
inputs = {"z": leaf([3, 5])}
parameters = {
    "fc.weight": leaf([2 * 2 * 2, 5], 0.5), "fc.bias": leaf([8], 0.1),
    "norm.weight": (1 + 0.1 * torch.randn(2)).requires_grad_(True), "norm.bias": leaf([2], 0.1),
    "deconv.weight": leaf([2, 1, 4, 4], 0.4), "deconv.bias": leaf([1], 0.1),
    "head.weight": leaf([1, 5], 0.5), "head.bias": leaf([1], 0.1),
}
p = parameters
target = torch.rand(3, 1, 4, 4) * 2 - 1
real = torch.tensor([[1.0], [0.0], [1.0]])
running_mean, running_var = torch.zeros(2), torch.ones(2)
g1 = F.linear(inputs["z"], p["fc.weight"], p["fc.bias"]).reshape(3, 2, 2, 2)
g2 = F.relu(F.batch_norm(g1, running_mean, running_var, p["norm.weight"], p["norm.bias"], training=True, momentum=0.1, eps=1e-5))
g3 = torch.tanh(F.conv_transpose2d(g2, p["deconv.weight"], p["deconv.bias"], stride=2, padding=1))
head = F.linear(inputs["z"], p["head.weight"], p["head.bias"])
loss = F.mse_loss(g3, target) + F.binary_cross_entropy_with_logits(head, real)
loss.backward()
cases["generator"] = {
    "inputs": dump(inputs), "parameters": dump(parameters),
    "target": {"shape": list(target.shape), "values": values(target)},
    "real": {"shape": list(real.shape), "values": values(real)},
    "forward": dump({"linear": g1, "norm_relu": g2, "image": g3, "head": head}),
    "running": dump({"mean": running_mean, "var": running_var}),
    "loss": float(loss.detach()),
    "gradients": gradients({**inputs, **parameters}),
}

# Case 3: a GRU over 4 steps from a given initial state (PyTorch's gate order r, z, n), with the
# loss a fixed weighting of every step's hidden state.
inputs = {"x": leaf([2, 4, 3]), "h0": leaf([2, 5], 0.5)}
parameters = {"weight_ih": leaf([15, 3], 0.4), "weight_hh": leaf([15, 5], 0.4), "bias_ih": leaf([15], 0.1), "bias_hh": leaf([15], 0.1)}
gru = torch.nn.GRU(3, 5, batch_first=True)
module_parameters = {"weight_ih": gru.weight_ih_l0, "weight_hh": gru.weight_hh_l0, "bias_ih": gru.bias_ih_l0, "bias_hh": gru.bias_hh_l0}
with torch.no_grad():
    for name, tensor in module_parameters.items():
        tensor.copy_(parameters[name])
states, _ = gru(inputs["x"], inputs["h0"].unsqueeze(0))
weights = torch.randn(2, 4, 5)
loss = (states * weights).sum()
loss.backward()
for name, tensor in module_parameters.items():
    parameters[name].grad = tensor.grad
cases["gru"] = {
    "inputs": dump(inputs), "parameters": dump(parameters),
    "weights": {"shape": list(weights.shape), "values": values(weights)},
    "forward": dump({"states": states}), "running": {},
    "loss": float(loss.detach()),
    "gradients": gradients({**inputs, **parameters}),
}

# Case 4: BERT-style multi-head self-attention (2 heads) with a padding mask, then a fixed weighting.
inputs = {"x": leaf([2, 5, 8])}
parameters = {f"{n}.{k}": leaf([8, 8] if k == "weight" else [8], 0.3 if k == "weight" else 0.1)
              for n in ["query", "key", "value", "output"] for k in ["weight", "bias"]}
mask = [[True, True, True, False, False], [True, True, True, True, True]]
p = parameters
def heads(t):
    return t.reshape(2, 5, 2, 4).transpose(1, 2)
q = heads(F.linear(inputs["x"], p["query.weight"], p["query.bias"]))
k = heads(F.linear(inputs["x"], p["key.weight"], p["key.bias"]))
v = heads(F.linear(inputs["x"], p["value.weight"], p["value.bias"]))
scores = q @ k.transpose(-1, -2) / 2.0
scores = scores.masked_fill(~torch.tensor(mask)[:, None, None, :], -1e9)
context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(2, 5, 8)
attended = F.linear(context, p["output.weight"], p["output.bias"])
weights = torch.randn(2, 5, 8)
loss = (attended * weights).sum()
loss.backward()
cases["attention"] = {
    "inputs": dump(inputs), "parameters": dump(parameters), "mask": mask,
    "weights": {"shape": list(weights.shape), "values": values(weights)},
    "forward": dump({"output": attended}), "running": {},
    "loss": float(loss.detach()),
    "gradients": gradients({**inputs, **parameters}),
}

print(json.dumps({"torch_version": torch.__version__, "cases": cases}, indent=None, sort_keys=True))
