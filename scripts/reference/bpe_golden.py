"""Golden ids for Reptile's byte-level BPE tokenizer (Tests/ReptileTests/Text/ByteLevelBPETokenizerTests.swift).

    python3 scripts/reference/bpe_golden.py ../shared/models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf

Hugging Face `tokenizers` (0.23.3 used) encodes a seeded batch of random strings (mixed scripts,
emoji, whitespace runs of every kind, digits of several scripts, contractions, special tokens, long
words) with SmolLM2's tokenizer: the vocabulary and merges that transformers (5.25 used) reads from
the GGUF file, with SmolLM2's own pre-tokenizer, Digits(individual_digits=true) then
ByteLevel(add_prefix_space=false, use_regex=true), as in SmolLM2's tokenizer.json on the Hub and
llama.cpp's `smollm` pre-tokenizer. (transformers' GGUF loader leaves out the Digits step; the two
differ only where whitespace precedes a digit, e.g. "a  1".)
Writes Tests/Golden/smollm2-bpe-cases.json: [{"text": ..., "ids": [...]}].
"""
import json, os, random, sys, tempfile
from transformers import AutoTokenizer
from tokenizers import Tokenizer

gguf_path = sys.argv[1]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with tempfile.TemporaryDirectory() as folder:
    AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(gguf_path)), gguf_file=os.path.basename(gguf_path)).save_pretrained(folder)
    spec = json.load(open(os.path.join(folder, "tokenizer.json")))
spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Digits", "individual_digits": True},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
tokenizer = Tokenizer.from_str(json.dumps(spec))

rng = random.Random(23)
pools = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "0123456789", "٠١٢٣٤٥٦٧٨٩²³½¾Ⅻⅳ①",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "'''", "—–…«»¿¡©®™€£¥°§¶•",
    "       \t\n\r", "\u00a0\u3000\u2009\u2028\u2029\u0085\u200b\u000b\u000c",
    "éèêëàâäôöûüçñÉÀÇßøåæœ", "e\u0301a\u0300o\u0308n\u0303\u20dd",
    "абвгдежзийклмнопрстуфхцчшщыэюяАБВГД", "αβγδεζηθικλμνξοπρστυφχψω",
    "数据集合成的模型中文字符测试", "ひらがなカタカナ日本語", "한국어텍스트", "العربيةنص", "हिन्दीपाठ", "ภาษาไทย", "עברית",
    "🙂👍🏽🎉❤️🇫🇷👨‍👩‍👧‍👦🤖✓✗★",
]
words = ["the", " the", "don't", "I'll", "we've", "they're", "it's", "'s", "'S", "'ll", "'re", "'ve", "'m", "'d", "'t", "hello",
         " world", "Numbers", "HTTP", "https://example.com/a?b=c", "\r\n", "  ", "\n\n", "<|im_start|>", "<|im_end|>",
         "<|endoftext|>", "<|im_sta", "<repo_name>", "<jupyter_code>", "user", "assistant", "     x", "a  1", "\t\t1",
         "x'", "''s", "'''ll"]

def random_text():
    parts = []
    for _ in range(rng.randint(1, 12)):
        if rng.random() < 0.35:
            parts.append(rng.choice(words))
        else:
            pool = rng.choice(pools)
            parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
        if rng.random() < 0.4:
            parts.append(rng.choice([" ", "  ", "\n", " \n ", "\t", ""]))
    return "".join(parts)

texts = [random_text() for _ in range(400)]
texts += ["a" * 300, "ab" * 200 + " " + "x" * 100, " " * 70 + "a", "\n" * 40, "supercalifragilisticexpialidocious" * 4,
          "1" * 100, "<|im_start|>" * 3 + "<|im_end|>", "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
          "".join(chr(c) for c in range(0x20, 0x7f)), "".join(chr(c) for c in range(0xa0, 0x180)),
          # SmolLM2's vocabulary has no token for the bytes 0x04 0x06 0x13 0x14 0x16 0x1D 0xF1 0xF2 (nor the
          # bytes UTF-8 never uses): Hugging Face drops them, so these do not round-trip.
          "a\x04b\x06c\x13d\x14e\x16f\x1dg", "x\U00040000y\U000a0000z \U0004ffff"]
cases = [{"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids} for t in texts]
with open(os.path.join(root, "Tests", "Golden", "smollm2-bpe-cases.json"), "w") as out:
    out.write("[\n" + ",\n".join(json.dumps(case, ensure_ascii=False) for case in cases) + "\n]\n")
print(len(cases), "cases")
