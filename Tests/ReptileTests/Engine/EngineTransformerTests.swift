import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine

/// The Llama blocks' ops (RMSNorm, rotary embeddings, SwiGLU, causal grouped-query attention,
/// the token loss) against finite differences, and the cached attention against the full one.
@Suite struct EngineTransformerTests {
    static func variable(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Variable {
        var random = SeededRandom(seed: seed)
        return Variable(Tensor(normalShape: shape, standardDeviation: scale, random: &random), requiresGradient: true)
    }

    @Test func rmsNormGradients() {
        let input = Self.variable([5, 12], seed: 1), weight = Self.variable([12], seed: 2)
        expectGradientsMatch(gradientCheck([input, weight], elementsPerInput: 30) { rmsNorm($0[0], weight: $0[1], epsilon: 1e-5) })
    }

    @Test func rmsNormMatchesItsDefinition() {
        let input = Self.variable([2, 4], seed: 3), weight = Self.variable([4], seed: 4)
        let output = rmsNorm(input, weight: weight, epsilon: 1e-5).value.scalars
        let x = input.value.scalars, w = weight.value.scalars
        for row in 0..<2 {
            let values = x[(row * 4)..<(row * 4 + 4)]
            let root = (values.map { $0 * $0 }.reduce(0, +) / 4 + 1e-5).squareRoot()
            for index in 0..<4 { #expect(abs(output[row * 4 + index] - x[row * 4 + index] / root * w[index]) < 1e-5) }
        }
    }

    @Test func rotaryEmbeddingGradientsAndNorm() {
        let table = RotaryTable(headSize: 8, base: 100, positions: 16)
        let input = Self.variable([2, 3, 16], seed: 5)
        let positions = [0, 1, 2, 7, 8, 15]
        expectGradientsMatch(gradientCheck([input], elementsPerInput: 40) { rotaryEmbedding($0[0], positions: positions, table: table) })
        // A rotation keeps each pair's length, and position 0 is the identity.
        let output = rotaryEmbedding(input, positions: positions, table: table).value.scalars, x = input.value.scalars
        for index in 0..<16 { #expect(abs(output[index] - x[index]) < 1e-6) }
        for (first, second) in [(16 + 0, 16 + 4), (80 + 3, 80 + 7)] {
            let before = x[first] * x[first] + x[second] * x[second], after = output[first] * output[first] + output[second] * output[second]
            #expect(abs(before - after) < 1e-4)
        }
    }

    @Test func swiGLUGradients() {
        let gate = Self.variable([4, 10], seed: 6, scale: 2), up = Self.variable([4, 10], seed: 7)
        expectGradientsMatch(gradientCheck([gate, up], elementsPerInput: 40) { swiGLU(gate: $0[0], up: $0[1]) })
    }

    @Test func causalGroupedQueryAttentionGradients() {
        let query = Self.variable([2, 5, 4 * 6], seed: 8), key = Self.variable([2, 5, 2 * 6], seed: 9), value = Self.variable([2, 5, 2 * 6], seed: 10)
        let mask = [false, false, true, true, true, true, true, true, true, true]  // the first sequence left-padded by 2
        expectGradientsMatch(gradientCheck([query, key, value], elementsPerInput: 48) {
            causalGroupedQueryAttention(query: $0[0], key: $0[1], value: $0[2], queryHeads: 4, keyValueHeads: 2, keyMask: mask)
        })
    }

    /// With one key/value head per query head and no future keys to hide, it is BERT's attention of the past.
    @Test func causalAttentionOfTheLastPositionEqualsFullAttention() {
        let query = Self.variable([1, 6, 8], seed: 11), key = Self.variable([1, 6, 8], seed: 12), value = Self.variable([1, 6, 8], seed: 13)
        let causal = causalGroupedQueryAttention(query: query, key: key, value: value, queryHeads: 2, keyValueHeads: 2).value.scalars
        let full = multiHeadAttention(query: query, key: key, value: value, heads: 2).value.scalars
        for index in 40..<48 { #expect(abs(causal[index] - full[index]) < 1e-5) }
        #expect(abs(causal[0] - value.value.scalars[0]) < 1e-6)  // position 0 sees only itself
    }

    @Test func cachedAttentionEqualsFullCausalAttention() {
        let batch = 2, sequence = 7
        let query = Self.variable([batch, sequence, 4 * 8], seed: 14), key = Self.variable([batch, sequence, 2 * 8], seed: 15)
        let value = Self.variable([batch, sequence, 2 * 8], seed: 16)
        let mask = (0..<(batch * sequence)).map { $0 >= 3 || $0 >= sequence }  // the first sequence left-padded by 3
        let full = causalGroupedQueryAttention(query: query, key: key, value: value, queryHeads: 4, keyValueHeads: 2, keyMask: mask).value
        // The same through the cache: four positions at once, then one at a time.
        let cache = KeyValueCache(batch: batch, keyValueHeads: 2, headSize: 8, capacity: sequence)
        var pieces: [Tensor] = []
        for range in [0..<4, 4..<5, 5..<6, 6..<7] {
            let slice = { (v: Variable) in ReptileEngine.slice(v, alongAxis: 1, range: range).value }
            cache.append(key: slice(key), value: slice(value))
            pieces.append(cachedGroupedQueryAttention(query: slice(query), cache: cache, queryHeads: 4, keyMask: mask))
        }
        let cached = concat(pieces.map { Variable($0) }, alongAxis: 1).value.scalars
        let expected = full.scalars
        for item in 0..<batch {
            for position in (item == 0 ? 3 : 0)..<sequence {  // pad rows are not compared
                for column in 0..<32 {
                    let index = (item * sequence + position) * 32 + column
                    #expect(abs(cached[index] - expected[index]) < 1e-5, "item \(item) position \(position)")
                }
            }
        }
    }

    @Test func tokenCrossEntropyIgnoresNegativeTargetsAndMatchesFiniteDifferences() {
        let logits = Self.variable([4, 7], seed: 17)
        let targets = [3, -1, 0, 6]
        expectGradientsMatch(gradientCheck([logits], elementsPerInput: 28) { tokenCrossEntropy(logits: $0[0], targets: targets) })
        // Every row counted: the backward that turns the cached softmax into the gradient in place.
        let allCounted = Self.variable([4, 7], seed: 18)
        expectGradientsMatch(gradientCheck([allCounted], elementsPerInput: 28) { tokenCrossEntropy(logits: $0[0], targets: [3, 1, 0, 6]) })
        let counted = tokenCrossEntropy(logits: logits, targets: targets).value.scalarValue
        let plain = crossEntropy(logits: gather(logits, rows: [0, 2, 3]), labels: [3, 0, 6]).value.scalarValue
        #expect(abs(counted - plain) < 1e-6)
    }
}
