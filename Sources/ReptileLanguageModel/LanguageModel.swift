/// A pretrained causal language model of the Llama family (SmolLM2): loaded from a GGUF file or a
/// Hugging Face folder, run on the engine with a key/value cache, sampled, fine-tuned (full or LoRA).
public enum LanguageModelModule {}
