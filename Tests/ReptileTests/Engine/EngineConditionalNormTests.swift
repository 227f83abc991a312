import Foundation
import ReptileCore
import Testing
@testable import ReptileEngine

/// The per-sample channel affine and the conditional batch-norm built on it (the image generator's
/// class conditioning).
@Suite struct EngineConditionalNormTests {
    @Test func channelAffineGradientsFor4DAnd2DInputs() {
        let x = randomVariable([3, 4, 2, 3], seed: 21), gain = randomVariable([3, 4], seed: 22), bias = randomVariable([3, 4], seed: 23)
        expectGradientsMatch(gradientCheck([x, gain, bias]) { channelAffine($0[0], scale: $0[1], shift: $0[2]) })
        let flat = randomVariable([3, 4], seed: 24)
        expectGradientsMatch(gradientCheck([flat, gain, bias]) { channelAffine($0[0], scale: $0[1], shift: $0[2]) })
    }

    @Test func channelAffineScalesAndShiftsEachSampleAndChannelByItsOwnPair() {
        // Sample 0: channel 0 ×2 +1, channel 1 ×0 +5; sample 1: channel 0 ×−1 +0, channel 1 ×3 −1.
        let x = Variable(Tensor(shape: [2, 2, 2], values: [1, 2, 3, 4, 5, 6, 7, 8]))
        let y = channelAffine(x, scale: Variable(Tensor(shape: [2, 2], values: [2, 0, -1, 3])),
                              shift: Variable(Tensor(shape: [2, 2], values: [1, 5, 0, -1])))
        #expect(y.value.scalars == [3, 5, 5, 5, -5, -6, 20, 23])
    }

    /// Gradients reach the input and both class tables, through the shared normalisation (training
    /// and evaluation), and only the rows of classes present in the batch receive any.
    @Test func conditionalBatchNormGradientsReachTheInputAndTheRowsOfTheBatchsClasses() {
        let layer = ConditionalBatchNorm(featureCount: 3, classCount: 4, name: "generator.fc_norm")
        var random = SeededRandom(seed: 30)
        layer.classScale.value = Tensor(normalShape: [4, 3], random: &random)
        layer.classShift.value = Tensor(normalShape: [4, 3], random: &random)
        let labels = [2, 0, 2, 1, 0]
        let x = randomVariable([5, 3, 2, 2], seed: 31, scale: 2)
        expectGradientsMatch(gradientCheck([x, layer.classScale, layer.classShift]) { inputs in layer(inputs[0], labels: labels) })
        let flat = randomVariable([5, 3], seed: 32)
        expectGradientsMatch(gradientCheck([flat, layer.classScale, layer.classShift]) { inputs in layer(inputs[0], labels: labels) })
        // Class 3 is absent: its rows get no gradient.
        let unusedRow = layer.classScale.gradient!.scalars[9..<12] + layer.classShift.gradient!.scalars[9..<12]
        #expect(unusedRow.allSatisfy { $0 == 0 })
        layer.setTraining(false)
        expectGradientsMatch(gradientCheck([x, layer.classScale, layer.classShift]) { inputs in layer(inputs[0], labels: labels) })
    }

    /// At initialisation it is a plain batch-norm (gains 1, biases 0), with the same running
    /// statistics; once a class's row changes, only that class's samples change.
    @Test func conditionalBatchNormStartsAsAPlainBatchNormAndConditionsPerClass() {
        let plain = BatchNorm(featureCount: 3, name: "plain")
        let conditional = ConditionalBatchNorm(featureCount: 3, classCount: 2, name: "conditional")
        #expect(conditional.parameters.map(\.name) == ["conditional.class_weight", "conditional.class_bias"])
        #expect(conditional.buffers.map(\.name) == ["conditional.running_mean", "conditional.running_var"])
        let x = randomVariable([4, 3, 2, 2], seed: 40)
        let labels = [0, 1, 1, 0]
        #expect(conditional(x, labels: labels).value.scalars == plain(x).value.scalars)
        #expect(conditional.statistics.mean.value.scalars == plain.statistics.mean.value.scalars)
        #expect(conditional.statistics.variance.value.scalars == plain.statistics.variance.value.scalars)
        conditional.classScale.value[flatIndex: 3] = 2  // class 1, channel 0
        conditional.classShift.value[flatIndex: 4] = 1  // class 1, channel 1
        let before = plain(x).value.scalars, after = conditional(x, labels: labels).value.scalars
        for sample in 0..<4 {
            for channel in 0..<3 {
                let range = (sample * 12 + channel * 4)..<(sample * 12 + channel * 4 + 4)
                let expected: [Float] = labels[sample] == 1 && channel == 0 ? before[range].map { $0 * 2 }
                    : labels[sample] == 1 && channel == 1 ? before[range].map { $0 + 1 } : Array(before[range])
                for (got, want) in zip(after[range], expected) { #expect(abs(got - want) < 1e-6) }
            }
        }
    }
}
