import Foundation
import ReptileCore
import ReptileEngine

/// A low-rank adapter on a projection (LoRA, Hu et al. 2021): y += (α/r) · x·Aᵀ·Bᵀ, with A [r, in]
/// drawn small and B [out, r] zero, so a fresh adapter changes nothing.
public final class LowRankAdapter: Layer {
    public let down: Variable
    public let up: Variable
    public let scaling: Float

    init(inputSize: Int, outputSize: Int, rank: Int, alpha: Float, name: String, random: inout SeededRandom) {
        // PyTorch's Linear init for A (Kaiming-uniform, a = √5): uniform ±1/√in.
        let bound = 1 / Float(inputSize).squareRoot()
        down = Variable(parameter: Tensor(uniformShape: [rank, inputSize], in: -bound...bound, random: &random),
                        name: name + ".lora_A.weight")
        up = Variable(parameter: Tensor(zeros: [outputSize, rank]), name: name + ".lora_B.weight")
        scaling = alpha / Float(rank)
    }

    public var parameters: [Variable] { [down, up] }
}

/// A bias-free linear projection of the decoder, optionally with a low-rank adapter.
public final class Projection {
    public let weight: Variable
    public internal(set) var adapter: LowRankAdapter?

    init(weight: Variable) { self.weight = weight }

    func callAsFunction(_ input: Variable) -> Variable {
        let output = linear(input, weight: weight, bias: nil)
        guard let adapter else { return output }
        let low = linear(linear(input, weight: adapter.down, bias: nil), weight: adapter.up, bias: nil)
        return output + scale(low, by: adapter.scaling)
    }
}

/// One decoder block: RMSNorm → grouped-query self-attention with rotary positions → residual;
/// RMSNorm → SwiGLU feed-forward → residual.
public final class LlamaBlock {
    public let attentionNorm: Variable
    public let query: Projection, key: Projection, value: Projection, output: Projection
    public let feedForwardNorm: Variable
    public let gate: Projection, up: Projection, down: Projection

    init(index: Int, configuration c: LlamaConfiguration, makeWeight: (String, [Int]) throws -> Variable) rethrows {
        let prefix = "model.layers.\(index)."
        let queryWidth = c.queryHeads * c.headSize, keyWidth = c.keyValueHeads * c.headSize
        attentionNorm = try makeWeight(prefix + "input_layernorm.weight", [c.hiddenSize])
        query = Projection(weight: try makeWeight(prefix + "self_attn.q_proj.weight", [queryWidth, c.hiddenSize]))
        key = Projection(weight: try makeWeight(prefix + "self_attn.k_proj.weight", [keyWidth, c.hiddenSize]))
        value = Projection(weight: try makeWeight(prefix + "self_attn.v_proj.weight", [keyWidth, c.hiddenSize]))
        output = Projection(weight: try makeWeight(prefix + "self_attn.o_proj.weight", [c.hiddenSize, queryWidth]))
        feedForwardNorm = try makeWeight(prefix + "post_attention_layernorm.weight", [c.hiddenSize])
        gate = Projection(weight: try makeWeight(prefix + "mlp.gate_proj.weight", [c.intermediateSize, c.hiddenSize]))
        up = Projection(weight: try makeWeight(prefix + "mlp.up_proj.weight", [c.intermediateSize, c.hiddenSize]))
        down = Projection(weight: try makeWeight(prefix + "mlp.down_proj.weight", [c.hiddenSize, c.intermediateSize]))
    }

    /// The projections by the names LoRA targets use (Hugging Face's module names).
    var projections: [(String, Projection)] {
        [("q_proj", query), ("k_proj", key), ("v_proj", value), ("o_proj", output),
         ("gate_proj", gate), ("up_proj", up), ("down_proj", down)]
    }

    var weights: [Variable] { [attentionNorm] + projections.prefix(4).map(\.1.weight) + [feedForwardNorm] + projections.suffix(3).map(\.1.weight) }
}

/// A Llama-family causal language model on the engine. Parameters carry Hugging Face's names
/// (`model.layers.0.self_attn.q_proj.weight`), whichever file they came from.
public final class LlamaModel: Layer {
    public let configuration: LlamaConfiguration
    public let tokenEmbedding: Variable
    public let blocks: [LlamaBlock]
    public let finalNorm: Variable
    /// The output head when it is not tied to the token embedding.
    public let outputHead: Variable?
    let rotary: RotaryTable

    /// Builds the model with `makeWeight(name, shape)` providing every weight (a loader, or random init).
    public init(configuration c: LlamaConfiguration, makeWeight: (String, [Int]) throws -> Variable) throws {
        configuration = c
        tokenEmbedding = try makeWeight("model.embed_tokens.weight", [c.vocabularySize, c.hiddenSize])
        blocks = try (0..<c.layerCount).map { try LlamaBlock(index: $0, configuration: c, makeWeight: makeWeight) }
        finalNorm = try makeWeight("model.norm.weight", [c.hiddenSize])
        outputHead = c.tiedEmbeddings ? nil : try makeWeight("lm_head.weight", [c.vocabularySize, c.hiddenSize])
        rotary = RotaryTable(headSize: c.headSize, base: c.ropeBase, positions: c.contextLength)
    }

    /// A randomly initialised model (tests, benchmarks): normal(0, 0.02) weights, unit norms.
    public convenience init(configuration: LlamaConfiguration, random: inout SeededRandom) {
        var generator = random
        try! self.init(configuration: configuration) { name, shape in
            let tensor = shape.count == 1 ? Tensor(shape: shape, repeating: 1)
                : Tensor(normalShape: shape, standardDeviation: 0.02, random: &generator)
            return Variable(tensor, name: name)
        }
        random = generator
    }

    /// The pretrained weights, adapters excluded, in a stable order.
    public var baseWeights: [Variable] { [tokenEmbedding] + blocks.flatMap(\.weights) + [finalNorm] + (outputHead.map { [$0] } ?? []) }

    public var adapters: [LowRankAdapter] { blocks.flatMap { $0.projections.compactMap(\.1.adapter) } }

    /// What trains: the adapters when there are any (LoRA), else every weight.
    public var parameters: [Variable] {
        let adapterWeights = adapters.flatMap(\.parameters)
        return adapterWeights.isEmpty ? baseWeights : adapterWeights
    }

    /// Adds LoRA adapters of `rank` to the projections named in `targets` (q_proj, k_proj, v_proj,
    /// o_proj, gate_proj, up_proj, down_proj) of every block, and freezes the base weights.
    public func addAdapters(rank: Int, alpha: Float, targets: [String], random: inout SeededRandom) {
        precondition(rank >= 1, "LoRA rank must be at least 1, got \(rank)")
        for (index, block) in blocks.enumerated() {
            for (name, projection) in block.projections where targets.contains(name) {
                let shape = projection.weight.shape
                let module = ["q_proj", "k_proj", "v_proj", "o_proj"].contains(name) ? "self_attn" : "mlp"
                let prefix = "model.layers.\(index).\(module).\(name)"
                projection.adapter = LowRankAdapter(inputSize: shape[1], outputSize: shape[0], rank: rank, alpha: alpha,
                                                    name: prefix, random: &random)
            }
        }
        setBaseWeightsTrainable(false)
    }

    /// Switches gradients of the pretrained weights on (full fine-tuning) or off (LoRA, inference).
    public func setBaseWeightsTrainable(_ trainable: Bool) {
        for weight in baseWeights { weight.requiresGradient = trainable }
    }

    // MARK: Forward

    /// The final-norm hidden states [B, S, D] of `tokens` (B·S ids, row-major). `positions` are each
    /// token's rotary position (default 0..<S in every row); `keyMask` hides padding (true = real).
    public func hiddenStates(tokens: [Int], batch: Int, sequence: Int, positions: [Int]? = nil, keyMask: [Bool]? = nil) -> Variable {
        let c = configuration
        precondition(tokens.count == batch * sequence, "LlamaModel: \(tokens.count) tokens for \(batch)×\(sequence)")
        let positions = positions ?? (0..<batch).flatMap { _ in 0..<sequence }
        var x = embedding(tokens, indexShape: [batch, sequence], weight: tokenEmbedding)
        for block in blocks {
            let normed = rmsNorm(x, weight: block.attentionNorm, epsilon: c.rmsEpsilon)
            let query = rotaryEmbedding(block.query(normed), positions: positions, table: rotary)
            let key = rotaryEmbedding(block.key(normed), positions: positions, table: rotary)
            let attended = causalGroupedQueryAttention(query: query, key: key, value: block.value(normed),
                                                       queryHeads: c.queryHeads, keyValueHeads: c.keyValueHeads, keyMask: keyMask)
            x = x + block.output(attended)
            let normedAgain = rmsNorm(x, weight: block.feedForwardNorm, epsilon: c.rmsEpsilon)
            x = x + block.down(swiGLU(gate: block.gate(normedAgain), up: block.up(normedAgain)))
        }
        return rmsNorm(x, weight: finalNorm, epsilon: c.rmsEpsilon)
    }

    /// Next-token logits [N, V] of hidden states [..., D].
    public func logits(_ hidden: Variable) -> Variable {
        let rows = hidden.value.count / configuration.hiddenSize
        return linear(reshape(hidden, [rows, configuration.hiddenSize]), weight: outputHead ?? tokenEmbedding, bias: nil)
    }

    // MARK: Generation with a key/value cache

    /// The key/value caches of every block for a batch of `batch` sequences of up to `capacity` tokens.
    public func makeCaches(batch: Int, capacity: Int) -> [KeyValueCache] {
        blocks.map { _ in KeyValueCache(batch: batch, keyValueHeads: configuration.keyValueHeads,
                                        headSize: configuration.headSize, capacity: capacity) }
    }

    /// Runs the next T tokens of every sequence (B·T ids) through the blocks, appending their keys
    /// and values to `caches`; returns the final-norm hidden state of each sequence's last token [B, D].
    /// `keyMask` holds B·capacity flags (false for a pad), `positions` B·T rotary positions.
    public func advance(tokens: [Int], positions: [Int], caches: [KeyValueCache], keyMask: [Bool]) -> Tensor {
        let c = configuration, batch = caches[0].batch, steps = tokens.count / batch
        var x = embedding(tokens, indexShape: [batch, steps], weight: tokenEmbedding)
        for (block, cache) in zip(blocks, caches) {
            let normed = rmsNorm(x, weight: block.attentionNorm, epsilon: c.rmsEpsilon)
            let query = rotaryEmbedding(block.query(normed), positions: positions, table: rotary)
            let key = rotaryEmbedding(block.key(normed), positions: positions, table: rotary)
            let value = block.value(normed)
            cache.append(key: key.value, value: value.value)
            let attended = cachedGroupedQueryAttention(query: query.value, cache: cache, queryHeads: c.queryHeads, keyMask: keyMask)
            x = x + block.output(Variable(attended))
            let normedAgain = rmsNorm(x, weight: block.feedForwardNorm, epsilon: c.rmsEpsilon)
            x = x + block.down(swiGLU(gate: block.gate(normedAgain), up: block.up(normedAgain)))
        }
        let last = slice(x, alongAxis: 1, range: (steps - 1)..<steps)
        return rmsNorm(reshape(last, [batch, c.hiddenSize]), weight: finalNorm, epsilon: c.rmsEpsilon).value
    }
}
