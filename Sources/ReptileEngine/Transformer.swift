import Foundation
import ReptileCore

// The ops of a Llama-family decoder that BERT's do not cover: RMSNorm, rotary position embeddings,
// the SwiGLU gate, and causal grouped-query attention (for training and for a prompt's first
// pass). Each is fused with its own backward.

/// y = x / √(mean(x²) + ε) · w over the last axis of [N, D] (leading axes flattened).
public func rmsNorm(_ input: Variable, weight: Variable, epsilon: Float) -> Variable {
    let width = weight.value.count
    precondition(weight.shape == [width] && input.shape.last == width,
                 "rmsNorm: weight \(weight.shape) must be [D] for input \(input.shape) ending in D")
    let rows = input.value.count / width
    var output = Tensor(uninitializedShape: input.shape)
    var reciprocalRoots = [Float](repeating: 0, count: rows)
    let x = input.value.readPointer, w = weight.value.readPointer, y = output.mutablePointer
    reciprocalRoots.withUnsafeMutableBufferPointer { roots in
        let r = roots.baseAddress!
        forEachRange(count: rows, minimumPerWorker: max(1, pointwiseElementsPerWorker / width)) { range in
            for row in range {
                let source = x + row * width, destination = y + row * width
                let meanSquare = dotProduct(source, source, count: width) / Float(width)
                let reciprocal = 1 / (meanSquare + epsilon).squareRoot()
                r[row] = reciprocal
                for index in 0..<width { destination[index] = source[index] * reciprocal * w[index] }
            }
        }
    }
    return Variable(output, parents: [input, weight]) { result in
        let dy = result.gradient!.readPointer, x = input.value.readPointer, w = weight.value.readPointer
        reciprocalRoots.withUnsafeBufferPointer { roots in
            let r = roots.baseAddress!
            if input.requiresGradient {
                // dx = r·(dy⊙w) − x·r³/D·Σ(dy⊙w⊙x)
                let dx = input.gradientForAccumulation()
                forEachRange(count: rows, minimumPerWorker: max(1, pointwiseElementsPerWorker / width)) { range in
                    for row in range {
                        let source = x + row * width, gradient = dy + row * width, destination = dx + row * width
                        var projection: Float = 0
                        for index in 0..<width { projection += gradient[index] * w[index] * source[index] }
                        let reciprocal = r[row]
                        let correction = projection * reciprocal * reciprocal * reciprocal / Float(width)
                        for index in 0..<width {
                            destination[index] += reciprocal * gradient[index] * w[index] - source[index] * correction
                        }
                    }
                }
            }
            if weight.requiresGradient {
                // dw = Σ_rows dy ⊙ x · r, rows in order so the sum does not depend on threads.
                let dw = weight.gradientForAccumulation()
                for row in 0..<rows {
                    let source = x + row * width, gradient = dy + row * width, reciprocal = r[row]
                    for index in 0..<width { dw[index] += gradient[index] * source[index] * reciprocal }
                }
            }
        }
    }
}

/// The cosines and sines of rotary position embeddings: for position p and frequency i < d/2,
/// angle p · base^(−2i/d), in float32 as Hugging Face's Llama computes them.
public struct RotaryTable: Sendable {
    public let headSize: Int
    public let base: Float
    let cosines: [Float]
    let sines: [Float]
    public let positions: Int

    public init(headSize: Int, base: Float, positions: Int) {
        precondition(headSize > 0 && headSize % 2 == 0, "rotary embeddings need an even head size, got \(headSize)")
        let half = headSize / 2
        let inverseFrequencies = (0..<half).map { 1 / powf(base, Float(2 * $0) / Float(headSize)) }
        var cosines = [Float](repeating: 0, count: positions * half), sines = cosines
        for position in 0..<positions {
            for index in 0..<half {
                let angle = Float(position) * inverseFrequencies[index]
                cosines[position * half + index] = cosf(angle)
                sines[position * half + index] = sinf(angle)
            }
        }
        self.headSize = headSize
        self.base = base
        self.cosines = cosines
        self.sines = sines
        self.positions = positions
    }
}

/// Rotates each head of x [B, S, heads·d] by its token's position (`positions`, B·S of them) in
/// the rotate-half layout: (x₁, x₂) → (x₁·cos − x₂·sin, x₂·cos + x₁·sin) with x₁, x₂ the two halves.
public func rotaryEmbedding(_ input: Variable, positions: [Int], table: RotaryTable) -> Variable {
    let headSize = table.headSize, half = headSize / 2
    let rows = positions.count
    precondition(input.value.count % max(rows, 1) == 0 && (input.value.count / max(rows, 1)) % headSize == 0,
                 "rotaryEmbedding: input \(input.shape) is not \(rows) rows of heads of size \(headSize)")
    precondition(positions.allSatisfy { $0 >= 0 && $0 < table.positions },
                 "rotaryEmbedding: a position outside the table's 0..<\(table.positions)")
    let heads = input.value.count / max(rows, 1) / headSize, width = heads * headSize
    func rotate(_ source: UnsafePointer<Float>, _ destination: UnsafeMutablePointer<Float>, inverse: Bool, accumulate: Bool) {
        table.cosines.withUnsafeBufferPointer { cosines in
            table.sines.withUnsafeBufferPointer { sines in
                forEachRange(count: rows, minimumPerWorker: max(1, pointwiseElementsPerWorker / width)) { range in
                    for row in range {
                        let c = cosines.baseAddress! + positions[row] * half, s = sines.baseAddress! + positions[row] * half
                        let sign: Float = inverse ? -1 : 1
                        for head in 0..<heads {
                            let x = source + row * width + head * headSize, y = destination + row * width + head * headSize
                            for index in 0..<half {
                                let first = x[index], second = x[index + half], sine = sign * s[index]
                                let rotatedFirst = first * c[index] - second * sine
                                let rotatedSecond = second * c[index] + first * sine
                                if accumulate {
                                    y[index] += rotatedFirst
                                    y[index + half] += rotatedSecond
                                } else {
                                    y[index] = rotatedFirst
                                    y[index + half] = rotatedSecond
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    var output = Tensor(uninitializedShape: input.shape)
    rotate(input.value.readPointer, output.mutablePointer, inverse: false, accumulate: false)
    return Variable(output, parents: [input]) { result in
        // A rotation's transpose is the rotation by the opposite angle.
        rotate(result.gradient!.readPointer, input.gradientForAccumulation(), inverse: true, accumulate: true)
    }
}

/// SwiGLU's gate: silu(gate) ⊙ up, with silu(g) = g·σ(g).
public func swiGLU(gate: Variable, up: Variable) -> Variable {
    precondition(gate.shape == up.shape, "swiGLU: gate \(gate.shape) and up \(up.shape) differ")
    let count = gate.value.count
    var output = Tensor(uninitializedShape: gate.shape)
    let g = gate.value.readPointer, u = up.value.readPointer, y = output.mutablePointer
    forEachRange(count: count, minimumPerWorker: computeBoundElementsPerWorker) { range in
        for index in range { y[index] = g[index] * fastSigmoid(g[index]) * u[index] }
    }
    return Variable(output, parents: [gate, up]) { result in
        let dy = result.gradient!.readPointer, g = gate.value.readPointer, u = up.value.readPointer
        let dg = gate.requiresGradient ? gate.gradientForAccumulation() : nil
        let du = up.requiresGradient ? up.gradientForAccumulation() : nil
        forEachRange(count: count, minimumPerWorker: computeBoundElementsPerWorker) { range in
            for index in range {
                let sigmoid = fastSigmoid(g[index]), silu = g[index] * sigmoid
                if let du { du[index] += dy[index] * silu }
                // d silu/dg = σ(g)·(1 + g·(1 − σ(g)))
                if let dg { dg[index] += dy[index] * u[index] * sigmoid * (1 + g[index] * (1 - sigmoid)) }
            }
        }
    }
}

/// The score given to keys a query may not see: far enough below any real score that exp gives 0.
private let hiddenKeyScore: Float = -1e9

/// Causal grouped-query attention: softmax(Q·Kᵀ/√d + mask)·V where query head h reads key/value
/// head h / (queryHeads / keyValueHeads). query [B, S, queryHeads·d], key and value
/// [B, S, keyValueHeads·d]; position i sees keys 0...i that `keyMask` (B·S flags, true for a real
/// token) does not hide. A query with no visible key (a left pad) gives 0.
public func causalGroupedQueryAttention(query: Variable, key: Variable, value: Variable,
                                        queryHeads: Int, keyValueHeads: Int, keyMask: [Bool]? = nil) -> Variable {
    precondition(query.shape.count == 3 && key.shape == value.shape && key.shape.count == 3
                 && key.shape[0] == query.shape[0] && key.shape[1] == query.shape[1],
                 "causalGroupedQueryAttention: query \(query.shape), key \(key.shape), value \(value.shape) must be [B, S, ·]")
    precondition(queryHeads > 0 && keyValueHeads > 0 && queryHeads % keyValueHeads == 0,
                 "causalGroupedQueryAttention: \(queryHeads) query heads do not share \(keyValueHeads) key/value heads evenly")
    let batch = query.shape[0], sequence = query.shape[1], queryWidth = query.shape[2], keyWidth = key.shape[2]
    let headSize = queryWidth / queryHeads, group = queryHeads / keyValueHeads
    precondition(queryWidth == queryHeads * headSize && keyWidth == keyValueHeads * headSize,
                 "causalGroupedQueryAttention: widths \(queryWidth), \(keyWidth) are not heads of one size")
    if let keyMask { precondition(keyMask.count == batch * sequence, "causalGroupedQueryAttention: mask of \(keyMask.count) for \(batch)×\(sequence)") }
    let scale = 1 / Float(headSize).squareRoot(), scoreSize = sequence * sequence
    // A block is one (sequence, key/value head): its query heads write their own columns, and in
    // backward the key/value gradients of the block are only touched by its own worker.
    let blocks = batch * keyValueHeads
    let hidden: [[Int]] = (0..<batch).map { item in
        guard let keyMask else { return [] }
        return (0..<sequence).filter { !keyMask[item * sequence + $0] }
    }
    func queryOffset(_ item: Int, _ head: Int) -> Int { item * sequence * queryWidth + head * headSize }
    func keyOffset(_ item: Int, _ head: Int) -> Int { item * sequence * keyWidth + head * headSize }

    var probabilities = Tensor(uninitializedShape: [batch, queryHeads, sequence, sequence])
    var output = Tensor(uninitializedShape: [batch, sequence, queryWidth])
    let workers = workerCount(count: blocks, minimumPerWorker: max(1, minimumAttentionWorkPerWorker / max(1, 2 * group * scoreSize * headSize)))
    let q = query.value.readPointer, k = key.value.readPointer, v = value.value.readPointer
    let p = probabilities.mutablePointer, c = output.mutablePointer
    runWorkers(workers) { worker in
        for block in workerRange(worker, of: workers, count: blocks) {
            let item = block / keyValueHeads, keyHead = block % keyValueHeads
            let keys = k + keyOffset(item, keyHead), values = v + keyOffset(item, keyHead)
            for member in 0..<group {
                let head = keyHead * group + member
                let scores = p + (item * queryHeads + head) * scoreSize
                matrixMultiply(q + queryOffset(item, head), keys, transposeB: true, into: scores,
                               rows: sequence, columns: sequence, inner: headSize, alpha: scale,
                               strideA: queryWidth, strideB: keyWidth)
                for row in 0..<sequence {
                    let rowScores = scores + row * sequence
                    for column in (row + 1)..<max(row + 1, sequence) { rowScores[column] = hiddenKeyScore }
                    for column in hidden[item] where column <= row { rowScores[column] = hiddenKeyScore }
                    if maximumOfElements(rowScores, count: sequence) == hiddenKeyScore {
                        // A query that sees no key (a left pad) attends to nothing: output and gradients 0.
                        rowScores.update(repeating: 0, count: sequence)
                        continue
                    }
                    softmaxInPlace(rowScores, count: sequence)
                }
                matrixMultiply(scores, values, into: c + queryOffset(item, head),
                               rows: sequence, columns: headSize, inner: sequence, strideB: keyWidth, strideC: queryWidth)
            }
        }
    }

    return Variable(output, parents: [query, key, value]) { result in
        let q = query.value.readPointer, k = key.value.readPointer, v = value.value.readPointer, p = probabilities.readPointer
        let dc = result.gradient!.readPointer
        let dq = query.requiresGradient ? query.gradientForAccumulation() : nil
        let dk = key.requiresGradient ? key.gradientForAccumulation() : nil
        let dv = value.requiresGradient ? value.gradientForAccumulation() : nil
        var scoreGradients = Tensor(uninitializedShape: [workers, sequence, sequence])
        let scratch = scoreGradients.mutablePointer
        runWorkers(workers) { worker in
            let dScores = scratch + worker * scoreSize
            for block in workerRange(worker, of: workers, count: blocks) {
                let item = block / keyValueHeads, keyHead = block % keyValueHeads
                let keyBase = keyOffset(item, keyHead)
                for member in 0..<group {
                    let head = keyHead * group + member, queryBase = queryOffset(item, head)
                    let probability = p + (item * queryHeads + head) * scoreSize
                    if let dv {
                        // dV [S, d] += Pᵀ · dC
                        matrixMultiply(probability, transposeA: true, dc + queryBase, into: dv + keyBase,
                                       rows: sequence, columns: headSize, inner: sequence, beta: 1,
                                       strideB: queryWidth, strideC: keyWidth)
                    }
                    guard dq != nil || dk != nil else { continue }
                    // dP = dC · Vᵀ, then softmax backward with the 1/√d folded in.
                    matrixMultiply(dc + queryBase, v + keyBase, transposeB: true, into: dScores,
                                   rows: sequence, columns: sequence, inner: headSize, strideA: queryWidth, strideB: keyWidth)
                    for row in 0..<sequence {
                        let rowProbability = probability + row * sequence, rowGradient = dScores + row * sequence
                        let dot = dotProduct(rowGradient, rowProbability, count: sequence)
                        for column in 0..<sequence {
                            rowGradient[column] = scale * rowProbability[column] * (rowGradient[column] - dot)
                        }
                    }
                    if let dq {
                        matrixMultiply(dScores, k + keyBase, into: dq + queryBase,
                                       rows: sequence, columns: headSize, inner: sequence, beta: 1,
                                       strideB: keyWidth, strideC: queryWidth)
                    }
                    if let dk {
                        matrixMultiply(dScores, transposeA: true, q + queryBase, into: dk + keyBase,
                                       rows: sequence, columns: headSize, inner: sequence, beta: 1,
                                       strideB: queryWidth, strideC: keyWidth)
                    }
                }
            }
        }
    }
}

/// Keys and values of earlier positions for one attention layer, for generation: [B, heads,
/// capacity, d] each, filled up to `length`; every sequence of the batch appends in step.
public final class KeyValueCache {
    public let batch: Int
    public let keyValueHeads: Int
    public let headSize: Int
    public let capacity: Int
    public private(set) var length = 0
    var keys: Tensor
    var values: Tensor

    public init(batch: Int, keyValueHeads: Int, headSize: Int, capacity: Int) {
        self.batch = batch
        self.keyValueHeads = keyValueHeads
        self.headSize = headSize
        self.capacity = capacity
        keys = Tensor(zeros: [batch, keyValueHeads, capacity, headSize])
        values = Tensor(zeros: [batch, keyValueHeads, capacity, headSize])
    }

    /// Appends key and value [B, T, heads·d] of the next T positions.
    public func append(key: Tensor, value: Tensor) {
        let width = keyValueHeads * headSize
        precondition(key.shape.count == 3 && key.shape == value.shape && key.shape[0] == batch && key.shape[2] == width,
                     "KeyValueCache.append: key \(key.shape) and value \(value.shape) must be [\(batch), T, \(width)]")
        let steps = key.shape[1]
        precondition(length + steps <= capacity, "KeyValueCache: \(length) + \(steps) positions exceed its capacity \(capacity)")
        let sourceKeys = key.readPointer, sourceValues = value.readPointer
        let destinationKeys = keys.mutablePointer, destinationValues = values.mutablePointer
        for item in 0..<batch {
            for step in 0..<steps {
                for head in 0..<keyValueHeads {
                    let source = (item * steps + step) * width + head * headSize
                    let destination = ((item * keyValueHeads + head) * capacity + length + step) * headSize
                    (destinationKeys + destination).update(from: sourceKeys + source, count: headSize)
                    (destinationValues + destination).update(from: sourceValues + source, count: headSize)
                }
            }
        }
        length += steps
    }
}

/// Attention of the T newest positions (query [B, T, queryHeads·d], already appended to `cache`)
/// to every cached position up to their own; `keyMask` holds B·capacity flags, false for a pad.
public func cachedGroupedQueryAttention(query: Tensor, cache: KeyValueCache, queryHeads: Int, keyMask: [Bool]) -> Tensor {
    let batch = cache.batch, headSize = cache.headSize, queryWidth = queryHeads * headSize
    precondition(query.shape.count == 3 && query.shape[0] == batch && query.shape[2] == queryWidth,
                 "cachedGroupedQueryAttention: query \(query.shape) must be [\(batch), T, \(queryWidth)]")
    precondition(keyMask.count == batch * cache.capacity, "cachedGroupedQueryAttention: mask of \(keyMask.count) flags")
    let steps = query.shape[1], length = cache.length, first = length - steps
    let group = queryHeads / cache.keyValueHeads, scale = 1 / Float(headSize).squareRoot()
    var output = Tensor(zeros: query.shape)
    let q = query.readPointer, c = output.mutablePointer
    let keys = cache.keys.readPointer, values = cache.values.readPointer
    let blocks = batch * cache.keyValueHeads
    let workers = workerCount(count: blocks, minimumPerWorker: max(1, minimumAttentionWorkPerWorker / max(1, 2 * group * steps * length * headSize)))
    keyMask.withUnsafeBufferPointer { maskBuffer in
        let mask = maskBuffer.baseAddress!
        runWorkers(workers) { worker in
            var scores = [Float](repeating: 0, count: length)
            scores.withUnsafeMutableBufferPointer { scoreBuffer in
                let s = scoreBuffer.baseAddress!
                for block in workerRange(worker, of: workers, count: blocks) {
                    let item = block / cache.keyValueHeads, keyHead = block % cache.keyValueHeads
                    let blockKeys = keys + block * cache.capacity * headSize, blockValues = values + block * cache.capacity * headSize
                    for step in 0..<steps {
                        let visible = first + step + 1
                        for member in 0..<group {
                            let head = keyHead * group + member
                            let queryRow = q + (item * steps + step) * queryWidth + head * headSize
                            for position in 0..<visible {
                                s[position] = mask[item * cache.capacity + position]
                                    ? scale * dotProduct(queryRow, blockKeys + position * headSize, count: headSize) : hiddenKeyScore
                            }
                            if maximumOfElements(s, count: visible) == hiddenKeyScore { continue }  // a pad sees no key: output 0
                            softmaxInPlace(s, count: visible)
                            let destination = c + (item * steps + step) * queryWidth + head * headSize
                            for position in 0..<visible {
                                let weight = s[position], row = blockValues + position * headSize
                                for index in 0..<headSize { destination[index] += weight * row[index] }
                            }
                        }
                    }
                }
            }
        }
    }
    return output
}
