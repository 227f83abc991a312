"""A tiny Llama written by Hugging Face transformers, and its own logits: the fixture that checks
Reptile's Hugging Face-layout loader and Llama blocks (Tests/Golden/tiny-llama).
Usage: python scripts/reference/tiny_llama.py OUT_DIR   (needs torch, transformers, tokenizers)"""
import json, os, sys
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
corpus = ["the quick brown fox jumps over the lazy dog", "what is the capital of france ?",
          "free entry in a weekly competition, call 09061701461 now", "a gentle, funny film about growing up"] * 20
tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
tokenizer.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
tokenizer.train_from_iterator(corpus, trainer)
fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|im_start|>", eos_token="<|im_end|>",
                               pad_token="<|im_end|>", unk_token=None)
fast.save_pretrained(out)

torch.manual_seed(0)
config = LlamaConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-5, rope_theta=100000.0,
                     max_position_embeddings=256, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
                     pad_token_id=2)
model = LlamaForCausalLM(config).eval()
with torch.no_grad():  # larger than the default init, so the blocks' outputs matter
    for p in model.parameters():
        p.mul_(2.0) if p.dim() > 1 else p.add_(0.1 * torch.randn_like(p))
model.save_pretrained(out, safe_serialization=True)

texts = ["the quick brown fox", "call 0906 now", "what is the capital of france ?"]
runs = []
with torch.no_grad():
    for t in texts:
        ids = fast(t, add_special_tokens=False).input_ids
        o = model(torch.tensor([ids]), output_hidden_states=True)
        greedy = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                max_new_tokens=8, do_sample=False)[0, len(ids):].tolist()
        runs.append({"text": t, "ids": ids, "logits": [[round(x, 6) for x in row] for row in o.logits[0].tolist()],
                     "last_hidden_after_norm": [round(x, 6) for x in o.hidden_states[-1][0, -1].tolist()],
                     "greedy_8": greedy})
json.dump({"reference": f"transformers {__import__('transformers').__version__}, torch {torch.__version__}",
           "runs": runs}, open(os.path.join(out, "reference-outputs.json"), "w"), indent=0)
print("wrote", out)
