import Foundation

/// Updates parameters from their gradients. State (moments, velocities) is allocated once, at
/// init, one buffer per parameter in the order given, so steps allocate nothing.
public protocol Optimizer: AnyObject {
    var parameters: [Variable] { get }
    var learningRate: Float { get set }
    /// Applies one update from the current gradients (parameters without a gradient are skipped).
    func step()
}

extension Optimizer {
    public func zeroGradients() {
        for parameter in parameters { parameter.zeroGradient() }
    }
}

/// SGD with optional momentum (PyTorch's form: v = μ·v + g, p −= lr·v) and L2 weight decay.
public final class SGD: Optimizer {
    public let parameters: [Variable]
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    var velocities: [Tensor]
    var isFirstStep = true

    public init(parameters: [Variable], learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        precondition(learningRate >= 0 && momentum >= 0 && weightDecay >= 0,
                     "SGD needs non-negative learning rate, momentum and weight decay, got \(learningRate), \(momentum), \(weightDecay)")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        velocities = momentum > 0 ? parameters.map { Tensor(zeros: $0.shape) } : []
    }

    public func step() {
        for (index, parameter) in parameters.enumerated() {
            guard let gradient = parameter.gradient else { continue }
            let g = gradient.readPointer, p = parameter.value.mutablePointer
            let count = parameter.value.count, rate = learningRate, decay = weightDecay, mu = momentum
            if mu > 0 {
                let v = velocities[index].mutablePointer
                // PyTorch starts the velocity at the first gradient rather than at μ·0 + g; the same.
                for element in 0..<count {
                    let direction = g[element] + decay * p[element]
                    v[element] = isFirstStep ? direction : mu * v[element] + direction
                    p[element] -= rate * v[element]
                }
            } else {
                for element in 0..<count { p[element] -= rate * (g[element] + decay * p[element]) }
            }
        }
        isFirstStep = false
    }
}

/// Adam (Kingma & Ba) with bias correction, in PyTorch's arithmetic:
/// p −= (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε). `weightDecay` is the L2 form (added to the
/// gradient); `AdamW` decays the weights directly instead.
public class Adam: Optimizer {
    public let parameters: [Variable]
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    public let weightDecay: Float
    public internal(set) var stepCount = 0
    var firstMoments: [Tensor]
    var secondMoments: [Tensor]
    let decoupledWeightDecay: Bool

    public convenience init(parameters: [Variable], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                            epsilon: Float = 1e-8, weightDecay: Float = 0) {
        self.init(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                  weightDecay: weightDecay, decoupledWeightDecay: false)
    }

    init(parameters: [Variable], learningRate: Float, beta1: Float, beta2: Float, epsilon: Float,
         weightDecay: Float, decoupledWeightDecay: Bool) {
        precondition(learningRate >= 0 && epsilon >= 0 && weightDecay >= 0, "Adam: negative hyperparameter "
                     + "(learning rate \(learningRate), epsilon \(epsilon), weight decay \(weightDecay))")
        precondition((0..<1).contains(beta1) && (0..<1).contains(beta2), "Adam: betas must be in [0, 1), got \(beta1), \(beta2)")
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
        firstMoments = parameters.map { Tensor(zeros: $0.shape) }
        secondMoments = parameters.map { Tensor(zeros: $0.shape) }
    }

    public func step() {
        stepCount += 1
        let firstCorrection = 1 - Float(pow(Double(beta1), Double(stepCount)))
        let secondCorrectionRoot = Float((1 - pow(Double(beta2), Double(stepCount))).squareRoot())
        let stepSize = learningRate / firstCorrection
        let b1 = beta1, b2 = beta2, eps = epsilon
        let l2Decay = decoupledWeightDecay ? 0 : weightDecay
        let weightShrink = decoupledWeightDecay ? 1 - learningRate * weightDecay : 1
        for (index, parameter) in parameters.enumerated() {
            guard let gradient = parameter.gradient else { continue }
            let g = gradient.readPointer, p = parameter.value.mutablePointer
            let m = firstMoments[index].mutablePointer, v = secondMoments[index].mutablePointer
            // One fused pass; fastSquareRoot keeps the loop vectorised (docs/platform.md §4). Large
            // parameters are split over the engine's threads (elements are independent).
            forEachRange(count: parameter.value.count, minimumPerWorker: 1 << 18) { range in
                for element in range {
                    let direction = g[element] + l2Decay * p[element]
                    m[element] = b1 * m[element] + (1 - b1) * direction
                    v[element] = b2 * v[element] + (1 - b2) * direction * direction
                    let denominator = fastSquareRoot(v[element]) / secondCorrectionRoot + eps
                    p[element] = p[element] * weightShrink - stepSize * m[element] / denominator
                }
            }
        }
    }
}

/// AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, p ← p·(1 − lr·λ) before the
/// Adam step. PyTorch's default λ is 0.01.
public final class AdamW: Adam {
    public init(parameters: [Variable], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0.01) {
        super.init(parameters: parameters, learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
                   weightDecay: weightDecay, decoupledWeightDecay: true)
    }
}

/// Scales all gradients together so that their global L2 norm is at most `maximumNorm`;
/// returns the norm before clipping (PyTorch's clip_grad_norm_).
@discardableResult
public func clipGradientNorm(_ parameters: [Variable], maximumNorm: Float) -> Float {
    var squares: Double = 0
    for parameter in parameters {
        guard let gradient = parameter.gradient else { continue }
        let g = gradient.readPointer
        var partial: Float = 0
        for index in 0..<gradient.count { partial += g[index] * g[index] }
        squares += Double(partial)
    }
    let norm = Float(squares.squareRoot())
    let factor = maximumNorm / (norm + 1e-6)
    if factor < 1 {
        for parameter in parameters where parameter.gradient != nil {
            let g = parameter.gradient!.mutablePointer
            for index in 0..<parameter.gradient!.count { g[index] *= factor }
        }
    }
    return norm
}

/// Learning-rate schedules as pure functions of the step (0-based).
public enum LearningRateSchedule: Sendable {
    case constant
    /// Linear warm-up from 0 over `warmupSteps`, then linear decay to 0 at `totalSteps`.
    case warmupThenLinearDecay(warmupSteps: Int, totalSteps: Int)
    /// Linear warm-up, then half a cosine down to 0 at `totalSteps`.
    case warmupThenCosineDecay(warmupSteps: Int, totalSteps: Int)

    /// The factor that multiplies the base learning rate at `step`.
    public func factor(atStep step: Int) -> Float {
        switch self {
        case .constant:
            return 1
        case let .warmupThenLinearDecay(warmup, total):
            if step < warmup { return Float(step + 1) / Float(warmup) }
            return max(0, Float(total - step) / Float(max(1, total - warmup)))
        case let .warmupThenCosineDecay(warmup, total):
            if step < warmup { return Float(step + 1) / Float(warmup) }
            let progress = min(1, Float(step - warmup) / Float(max(1, total - warmup)))
            return 0.5 * (1 + cos(Float.pi * progress))
        }
    }
}
