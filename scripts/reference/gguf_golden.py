"""Golden fixtures for Reptile's GGUF reader (Tests/ReptileTests/Formats/GGUFTests.swift).

    python3 scripts/reference/gguf_golden.py [--smollm ../shared/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf]

Writes, with the `gguf` package (llama.cpp's gguf-py, 0.19.0 used) and numpy:
- Tests/Golden/gguf-types.gguf: a small GGUF v3 with metadata of every value type
  (nested arrays and arrays of strings included) and tensors of F32, F16, BF16, Q8_0, Q4_0 and
  Q4_1, both quantised by gguf.quants.quantize and as raw random blocks with valid f16 scales;
- Tests/Golden/gguf-types.json: gguf.quants.dequantize of each tensor, and the metadata;
- with --smollm: Tests/Golden/smollm2-gguf.json, the first and last 16 dequantised
  values of token_embd.weight and blk.0.attn_q.weight of the real SmolLM2 file, and its header facts.
"""
import argparse, json, os
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
golden = os.path.join(root, "Tests", "Golden")
parser = argparse.ArgumentParser()
parser.add_argument("--smollm")
args = parser.parse_args()

rng = np.random.default_rng(23)
path = os.path.join(golden, "gguf-types.gguf")
writer = gguf.GGUFWriter(path, arch="reptiletest")
writer.add_uint8("test.uint8", 200)
writer.add_int8("test.int8", -100)
writer.add_uint16("test.uint16", 60000)
writer.add_int16("test.int16", -30000)
writer.add_uint32("test.uint32", 4000000000)
writer.add_int32("test.int32", -2000000000)
writer.add_uint64("test.uint64", 2**63 + 5)
writer.add_int64("test.int64", -(2**62))
writer.add_float32("test.float32", 0.1)
writer.add_float64("test.float64", 0.1)
writer.add_bool("test.bool", True)
writer.add_string("test.string", "héllo ✓ 🙂")
writer.add_array("test.strings", ["a", "", "Ġthe", "<|im_end|>", "数据"])
writer.add_array("test.ints", [1, -2, 3])
writer.add_key_value("test.nested", [[1, 2], [3]], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.ARRAY)

expected = {}

def add(name, qtype, data, shape):
    writer.add_tensor(name, data, raw_dtype=qtype)
    values = gguf.quants.dequantize(data, qtype).astype(np.float32)
    assert list(values.shape) == list(shape), (name, values.shape, shape)
    # Float32 bit patterns: exact, infinities included.
    expected[name] = {"type": qtype.name, "shape": list(shape), "bits": [int(x) for x in values.reshape(-1).view(np.uint32)]}

def random_f16(count, low=-3, high=3):
    # Finite half-precision scales, normal and subnormal.
    scales = rng.normal(0, 1, count) * np.exp2(rng.integers(low, high, count))
    return scales.astype(np.float16)

shape = (3, 64)
values = rng.normal(0, 1, shape).astype(np.float32)
values[0, :4] = [0.0, -0.0, 1e-7, 65504.0]
add("f32", Q.F32, values, shape)
f16 = values.astype(np.float16)
f16[1, :6] = np.array([np.inf, -np.inf, 6e-8, -6e-5, 65504, -0.0], dtype=np.float16)
add("f16", Q.F16, f16, shape)
add("bf16", Q.BF16, gguf.quants.quantize(values, Q.BF16), shape)
for qtype in (Q.Q8_0, Q.Q4_0, Q.Q4_1):
    add(qtype.name.lower(), qtype, gguf.quants.quantize(values, qtype), shape)

# Raw random blocks: every nibble and byte value, scales of all magnitudes.
blocks = 12
q8 = np.zeros((blocks, 34), dtype=np.uint8)
q8[:, 0:2] = random_f16(blocks).view(np.uint8).reshape(blocks, 2)
q8[:, 2:] = rng.integers(0, 256, (blocks, 32), dtype=np.uint8)
add("q8_0_raw", Q.Q8_0, q8.reshape(4, 3 * 34), (4, 96))
q40 = np.zeros((blocks, 18), dtype=np.uint8)
q40[:, 0:2] = random_f16(blocks).view(np.uint8).reshape(blocks, 2)
q40[:, 2:] = rng.integers(0, 256, (blocks, 16), dtype=np.uint8)
add("q4_0_raw", Q.Q4_0, q40.reshape(2, 6 * 18), (2, 192))
q41 = np.zeros((blocks, 20), dtype=np.uint8)
q41[:, 0:2] = random_f16(blocks).view(np.uint8).reshape(blocks, 2)
q41[:, 2:4] = random_f16(blocks).view(np.uint8).reshape(blocks, 2)
q41[:, 4:] = rng.integers(0, 256, (blocks, 16), dtype=np.uint8)
add("q4_1_raw", Q.Q4_1, q41.reshape(12, 20), (12, 32))
# A 3-D tensor and a 1-D one: shapes are numpy's (GGUF's ne reversed).
add("f32_3d", Q.F32, rng.normal(0, 1, (2, 3, 4)).astype(np.float32), (2, 3, 4))
add("f32_1d", Q.F32, np.arange(5, dtype=np.float32), (5,))

writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()

reader = gguf.GGUFReader(path)
with open(os.path.join(golden, "gguf-types.json"), "w") as out:
    json.dump({"tensor_order": [t.name for t in reader.tensors], "tensors": expected,
               "data_offset": int(reader.data_offset), "version": int(reader.fields["GGUF.version"].contents())}, out)
    out.write("\n")
print(path, os.path.getsize(path), "bytes")

if args.smollm:
    r = gguf.GGUFReader(args.smollm)
    facts = {"tensor_count": len(r.tensors), "tensors": {}}
    for t in r.tensors:
        if t.name in ("token_embd.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight", "output_norm.weight", "blk.29.ffn_down.weight"):
            v = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
            facts["tensors"][t.name] = {"type": t.tensor_type.name, "shape": [int(x) for x in reversed(t.shape)],
                                        "first": [float(x) for x in v[:16]], "last": [float(x) for x in v[-16:]],
                                        "sum": float(v.astype(np.float64).sum())}
    facts["first_tensors"] = [t.name for t in r.tensors[:3]]
    # transformers' GGUF loader undoes llama.cpp's permutation of the query and key rows
    # (TensorProcessor._reverse_permute_weights): the row sums after it, per row.
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor
    processor = LlamaTensorProcessor(config={"num_attention_heads": 9, "num_key_value_heads": 3})
    for t in r.tensors:
        if t.name in ("blk.0.attn_q.weight", "blk.0.attn_k.weight"):
            w = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            w = processor.process(w, t.name).weights
            facts["tensors"][t.name]["hf_row_sums"] = [float(x) for x in w.astype(np.float64).sum(axis=1)]
    with open(os.path.join(golden, "smollm2-gguf.json"), "w") as out:
        json.dump(facts, out)
        out.write("\n")
