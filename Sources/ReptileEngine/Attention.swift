import Foundation
import ReptileCore

// Multi-head scaled dot-product attention (BERT's self-attention) as one fused op. Heads are
// copied out of the [B, S, D] activations into contiguous [B, heads, S, d] blocks so that each
// (sequence, head) pair is a few small GEMMs; the attention probabilities are cached for backward.

/// The score given to padded keys: far enough below any real score that expf gives exactly 0.
private let maskedScore: Float = -1e9

/// Copies head columns out of [B, S, heads·d] into [B, heads, S, d].
private func splitHeads(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>,
                        batch: Int, sequence: Int, heads: Int, headSize: Int) {
    let width = heads * headSize
    for item in 0..<batch {
        for head in 0..<heads {
            for position in 0..<sequence {
                (destination + ((item * heads + head) * sequence + position) * headSize)
                    .update(from: source + (item * sequence + position) * width + head * headSize, count: headSize)
            }
        }
    }
}

/// The inverse of splitHeads, adding into `destination` (backward accumulates into gradients).
private func addMergedHeads(_ source: UnsafePointer<Float>, into destination: UnsafeMutablePointer<Float>,
                            batch: Int, sequence: Int, heads: Int, headSize: Int) {
    let width = heads * headSize
    for item in 0..<batch {
        for head in 0..<heads {
            for position in 0..<sequence {
                let from = source + ((item * heads + head) * sequence + position) * headSize
                let to = destination + (item * sequence + position) * width + head * headSize
                for index in 0..<headSize { to[index] += from[index] }
            }
        }
    }
}

/// softmax(Q·Kᵀ/√d + mask)·V per head. query, key, value [B, S, heads·d], head h in columns
/// h·d..<(h+1)·d; mask, if given, holds B·S flags in [batch, sequence] order, true for a real token:
/// padded keys get no attention from any query. Returns [B, S, heads·d].
public func multiHeadAttention(query: Variable, key: Variable, value: Variable, heads: Int, mask: [Bool]? = nil) -> Variable {
    precondition(query.shape.count == 3 && key.shape == query.shape && value.shape == query.shape,
                 "multiHeadAttention needs query, key, value of one shape [B, S, D], got \(query.shape), \(key.shape), \(value.shape)")
    let batch = query.shape[0], sequence = query.shape[1], width = query.shape[2]
    precondition(heads > 0 && width % heads == 0, "multiHeadAttention: width \(width) of \(query.shape) is not divisible by \(heads) heads")
    if let mask {
        precondition(mask.count == batch * sequence,
                     "multiHeadAttention: mask of \(mask.count) flags for [batch, sequence] = [\(batch), \(sequence)]")
    }
    let headSize = width / heads, blocks = batch * heads
    let blockSize = sequence * headSize, scoreSize = sequence * sequence
    let scale = 1 / Float(headSize).squareRoot()

    var queries = Tensor(uninitializedShape: [batch, heads, sequence, headSize])
    var keys = Tensor(uninitializedShape: [batch, heads, sequence, headSize])
    var values = Tensor(uninitializedShape: [batch, heads, sequence, headSize])
    splitHeads(query.value.readPointer, into: queries.mutablePointer, batch: batch, sequence: sequence, heads: heads, headSize: headSize)
    splitHeads(key.value.readPointer, into: keys.mutablePointer, batch: batch, sequence: sequence, heads: heads, headSize: headSize)
    splitHeads(value.value.readPointer, into: values.mutablePointer, batch: batch, sequence: sequence, heads: heads, headSize: headSize)

    var probabilities = Tensor(uninitializedShape: [batch, heads, sequence, sequence])
    var context = Tensor(uninitializedShape: [batch, heads, sequence, headSize])
    let q = queries.readPointer, k = keys.readPointer, v = values.readPointer
    let p = probabilities.mutablePointer, c = context.mutablePointer
    for block in 0..<blocks {
        let item = block / heads, scores = p + block * scoreSize
        // scores [S, S] = Q [S, d] · Kᵀ / √d
        matrixMultiply(q + block * blockSize, k + block * blockSize, transposeB: true, into: scores,
                       rows: sequence, columns: sequence, inner: headSize, alpha: scale)
        for row in 0..<sequence {
            let rowScores = scores + row * sequence
            if let mask {
                for column in 0..<sequence where !mask[item * sequence + column] { rowScores[column] = maskedScore }
            }
            var maximum = -Float.infinity
            for column in 0..<sequence { maximum = max(maximum, rowScores[column]) }
            // The exponentials in place first (a loop that vectorises), then their sum.
            for column in 0..<sequence { rowScores[column] = fastExponential(rowScores[column] - maximum) }
            var total: Float = 0
            for column in 0..<sequence { total += rowScores[column] }
            let inverseTotal = 1 / total
            for column in 0..<sequence { rowScores[column] *= inverseTotal }
        }
        // context [S, d] = P [S, S] · V [S, d]
        matrixMultiply(scores, v + block * blockSize, into: c + block * blockSize,
                       rows: sequence, columns: headSize, inner: sequence)
    }
    var output = Tensor(zeros: [batch, sequence, width])
    addMergedHeads(c, into: output.mutablePointer, batch: batch, sequence: sequence, heads: heads, headSize: headSize)

    return Variable(output, parents: [query, key, value]) { result in
        let q = queries.readPointer, k = keys.readPointer, v = values.readPointer, p = probabilities.readPointer
        // Gradients in the head-major layout first, then added back into the [B, S, D] inputs.
        var contextGradient = Tensor(uninitializedShape: [batch, heads, sequence, headSize])
        splitHeads(result.gradient!.readPointer, into: contextGradient.mutablePointer,
                   batch: batch, sequence: sequence, heads: heads, headSize: headSize)
        var queryGradient = Tensor(uninitializedShape: [batch, heads, sequence, headSize])
        var keyGradient = Tensor(uninitializedShape: [batch, heads, sequence, headSize])
        var valueGradient = Tensor(uninitializedShape: [batch, heads, sequence, headSize])
        var scoreGradient = Tensor(uninitializedShape: [sequence, sequence])
        let dc = contextGradient.readPointer, dScores = scoreGradient.mutablePointer
        let dq = queryGradient.mutablePointer, dk = keyGradient.mutablePointer, dv = valueGradient.mutablePointer
        for block in 0..<blocks {
            let offset = block * blockSize, probability = p + block * scoreSize
            // dV [S, d] = Pᵀ · dC;  dP [S, S] = dC · Vᵀ
            matrixMultiply(probability, transposeA: true, dc + offset, into: dv + offset,
                           rows: sequence, columns: headSize, inner: sequence)
            matrixMultiply(dc + offset, v + offset, transposeB: true, into: dScores,
                           rows: sequence, columns: sequence, inner: headSize)
            // Softmax backward, row by row, with the 1/√d of the scores folded in:
            // dScores = P ⊙ (dP − Σ dP·P) / √d. Masked keys have P = 0 and get nothing.
            for row in 0..<sequence {
                let rowProbability = probability + row * sequence, rowGradient = dScores + row * sequence
                var dot: Float = 0
                for column in 0..<sequence { dot += rowGradient[column] * rowProbability[column] }
                for column in 0..<sequence {
                    rowGradient[column] = scale * rowProbability[column] * (rowGradient[column] - dot)
                }
            }
            // dQ [S, d] = dScores · K;  dK [S, d] = dScoresᵀ · Q
            matrixMultiply(dScores, k + offset, into: dq + offset, rows: sequence, columns: headSize, inner: sequence)
            matrixMultiply(dScores, transposeA: true, q + offset, into: dk + offset,
                           rows: sequence, columns: headSize, inner: sequence)
        }
        for (input, gradient) in [(query, queryGradient), (key, keyGradient), (value, valueGradient)] where input.requiresGradient {
            addMergedHeads(gradient.readPointer, into: input.gradientForAccumulation(),
                           batch: batch, sequence: sequence, heads: heads, headSize: headSize)
        }
    }
}

/// BERT's self-attention block without its residual and layer-norm: query, key and value
/// projections, multi-head attention with a padding mask, and the output projection. Parameters
/// `query`, `key`, `value`, `output` (each `.weight` [D, D] and `.bias` [D]).
public final class MultiHeadSelfAttention: Layer {
    public let headCount: Int
    public let query: Linear, key: Linear, value: Linear, output: Linear

    public init(hiddenSize: Int, headCount: Int, name: String, random: inout SeededRandom) {
        precondition(headCount > 0 && hiddenSize % headCount == 0,
                     "MultiHeadSelfAttention: hidden size \(hiddenSize) is not divisible by \(headCount) heads")
        self.headCount = headCount
        query = Linear(inputSize: hiddenSize, outputSize: hiddenSize, name: qualifiedName(name, "query"), random: &random)
        key = Linear(inputSize: hiddenSize, outputSize: hiddenSize, name: qualifiedName(name, "key"), random: &random)
        value = Linear(inputSize: hiddenSize, outputSize: hiddenSize, name: qualifiedName(name, "value"), random: &random)
        output = Linear(inputSize: hiddenSize, outputSize: hiddenSize, name: qualifiedName(name, "output"), random: &random)
    }

    public var parameters: [Variable] { query.parameters + key.parameters + value.parameters + output.parameters }

    /// input [batch, sequence, hidden]; mask [batch, sequence] flattened, true for real tokens.
    public func callAsFunction(_ input: Variable, mask: [Bool]? = nil) -> Variable {
        output(multiHeadAttention(query: query(input), key: key(input), value: value(input), heads: headCount, mask: mask))
    }
}
