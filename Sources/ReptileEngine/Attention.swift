import Foundation
import ReptileCore

// Multi-head scaled dot-product attention (BERT's self-attention) as one fused op. Each
// (sequence, head) pair is a few small GEMMs that address the head's columns of the [B, S, D]
// activations in place (a row stride of D), so no head is ever copied out or merged back; the
// attention probabilities are cached for backward.

/// The score given to padded keys: far enough below any real score that expf gives exactly 0.
private let maskedScore: Float = -1e9

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
    let headSize = width / heads, blocks = batch * heads, scoreSize = sequence * sequence
    let scale = 1 / Float(headSize).squareRoot()
    /// Where block (item, head) starts in a [B, S, D] tensor; its rows are `width` apart.
    func blockOffset(_ block: Int) -> Int { (block / heads) * sequence * width + (block % heads) * headSize }
    // Per sequence, the padded positions (usually none, so the mask costs nothing then).
    let paddedPositions: [[Int]] = (0..<batch).map { item in
        guard let mask else { return [] }
        return (0..<sequence).filter { !mask[item * sequence + $0] }
    }

    var probabilities = Tensor(uninitializedShape: [batch, heads, sequence, sequence])
    var output = Tensor(uninitializedShape: [batch, sequence, width])
    // The blocks are independent (each writes its own head's columns), so workers take contiguous
    // runs of them; every block is computed the same way whatever the worker count.
    let workers = workerCount(count: blocks, minimumPerWorker: max(1, minimumAttentionWorkPerWorker / max(1, 2 * scoreSize * headSize)))
    let q = query.value.readPointer, k = key.value.readPointer, v = value.value.readPointer
    let p = probabilities.mutablePointer, c = output.mutablePointer
    runWorkers(workers) { worker in
        for block in workerRange(worker, of: workers, count: blocks) {
            let offset = blockOffset(block), scores = p + block * scoreSize
            // scores [S, S] = Q [S, d] · Kᵀ / √d
            matrixMultiply(q + offset, k + offset, transposeB: true, into: scores,
                           rows: sequence, columns: sequence, inner: headSize, alpha: scale, strideA: width, strideB: width)
            let padded = paddedPositions[block / heads]
            for row in 0..<sequence {
                let rowScores = scores + row * sequence
                for column in padded { rowScores[column] = maskedScore }
                softmaxInPlace(rowScores, count: sequence)
            }
            // context [S, d] = P [S, S] · V [S, d], straight into the head's columns of the output
            matrixMultiply(scores, v + offset, into: c + offset,
                           rows: sequence, columns: headSize, inner: sequence, strideB: width, strideC: width)
        }
    }

    return Variable(output, parents: [query, key, value]) { result in
        let q = query.value.readPointer, k = key.value.readPointer, v = value.value.readPointer, p = probabilities.readPointer
        let dc = result.gradient!.readPointer
        // Each block owns its head's columns, so the GEMMs add straight into the inputs' gradients.
        let dq = query.requiresGradient ? query.gradientForAccumulation() : nil
        let dk = key.requiresGradient ? key.gradientForAccumulation() : nil
        let dv = value.requiresGradient ? value.gradientForAccumulation() : nil
        // Each worker its own [S, S] scratch for dP; the blocks' gradients land in disjoint columns.
        var scoreGradients = Tensor(uninitializedShape: [workers, sequence, sequence])
        let scratch = scoreGradients.mutablePointer
        runWorkers(workers) { worker in
            let dScores = scratch + worker * scoreSize
            for block in workerRange(worker, of: workers, count: blocks) {
                let offset = blockOffset(block), probability = p + block * scoreSize
                // dV [S, d] += Pᵀ · dC
                if let dv {
                    matrixMultiply(probability, transposeA: true, dc + offset, into: dv + offset,
                                   rows: sequence, columns: headSize, inner: sequence, beta: 1, strideB: width, strideC: width)
                }
                guard dq != nil || dk != nil else { continue }
                // dP [S, S] = dC · Vᵀ
                matrixMultiply(dc + offset, v + offset, transposeB: true, into: dScores,
                               rows: sequence, columns: sequence, inner: headSize, strideA: width, strideB: width)
                // Softmax backward, row by row, with the 1/√d of the scores folded in:
                // dScores = P ⊙ (dP − Σ dP·P) / √d. Masked keys have P = 0 and get nothing.
                for row in 0..<sequence {
                    let rowProbability = probability + row * sequence, rowGradient = dScores + row * sequence
                    let dot = dotProduct(rowGradient, rowProbability, count: sequence)
                    for column in 0..<sequence {
                        rowGradient[column] = scale * rowProbability[column] * (rowGradient[column] - dot)
                    }
                }
                // dQ [S, d] += dScores · K;  dK [S, d] += dScoresᵀ · Q
                if let dq {
                    matrixMultiply(dScores, k + offset, into: dq + offset,
                                   rows: sequence, columns: headSize, inner: sequence, beta: 1, strideB: width, strideC: width)
                }
                if let dk {
                    matrixMultiply(dScores, transposeA: true, q + offset, into: dk + offset,
                                   rows: sequence, columns: headSize, inner: sequence, beta: 1, strideB: width, strideC: width)
                }
            }
        }
    }
}

/// Turns `count` scores into their softmax in place: the exponentials first (a loop that
/// vectorises), then their sum.
@inline(__always)
func softmaxInPlace(_ scores: UnsafeMutablePointer<Float>, count: Int) {
    let maximum = maximumOfElements(scores, count: count)
    for index in 0..<count { scores[index] = fastExponential(scores[index] - maximum) }
    let inverseTotal = 1 / sumOfElements(scores, count: count)
    for index in 0..<count { scores[index] *= inverseTotal }
}

/// Multiply-adds a worker should get before attention's blocks are split (dispatch costs ~10 µs).
let minimumAttentionWorkPerWorker = 1 << 18

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
