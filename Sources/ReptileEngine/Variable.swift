/// A tensor in the computation graph: its value, its gradient, and how to push a gradient back.
///
/// Reverse mode in the micrograd shape, on tensors: every op builds its output `Variable` with the
/// inputs as `parents` and a `backward` closure written next to the forward code. `backward()` on
/// the loss sorts the graph topologically and runs the closures in reverse; each closure *adds*
/// into its parents' gradients, so an input used twice gets both contributions.
///
/// Parameters are leaves with a `name` (`generator.deconv1.weight`). Their gradient buffers are
/// allocated once and zeroed between steps; the gradients of intermediate nodes are released as
/// soon as their backward has run, so their storage goes back to the pool for the next step.
public final class Variable {
    public var value: Tensor
    public internal(set) var gradient: Tensor?
    /// Hierarchical name for parameters; nil for inputs and intermediate results.
    public let name: String?
    /// Whether gradients flow to this variable. A leaf may switch it off for a while: a GAN's
    /// generator step freezes the discriminator so its weight gradients are not computed at all.
    public var requiresGradient: Bool {
        didSet {
            precondition(parents.isEmpty, "only a leaf can change requiresGradient (variable of shape \(shape))")
        }
    }

    let parents: [Variable]
    /// Adds this node's gradient (`output.gradient`) into the gradients of `parents`.
    private(set) var backwardFunction: ((Variable) -> Void)?

    /// A leaf: an input (no gradient unless asked) or a parameter (named, with gradient).
    public init(_ value: Tensor, name: String? = nil, requiresGradient: Bool = false) {
        self.value = value
        self.name = name
        self.requiresGradient = requiresGradient
        self.parents = []
        self.backwardFunction = nil
    }

    /// A parameter: a named leaf that receives gradients. Its gradient buffer exists from the
    /// start, so no training step (the first included) allocates one mid-way.
    public convenience init(parameter value: Tensor, name: String) {
        self.init(value, name: name, requiresGradient: true)
        gradient = Tensor(zeros: value.shape)
    }

    /// The result of an op. The backward closure is kept only when some input needs a gradient,
    /// which makes inference (all inputs constant) record nothing.
    init(_ value: Tensor, parents: [Variable], backward: @escaping (Variable) -> Void) {
        self.value = value
        self.name = nil
        let needsGradient = parents.contains { $0.requiresGradient }
        self.requiresGradient = needsGradient
        self.parents = needsGradient ? parents : []
        self.backwardFunction = needsGradient ? backward : nil
    }

    public var shape: [Int] { value.shape }
    public var isLeaf: Bool { parents.isEmpty }

    // MARK: Gradients

    /// The gradient buffer to add into, created zeroed on first use (taken from the pool).
    /// The pointer stays valid while this variable keeps its gradient.
    func gradientForAccumulation() -> UnsafeMutablePointer<Float> {
        if gradient == nil { gradient = Tensor(zeros: value.shape) }
        gradient!.makeUnique()
        return gradient!.storage.pointer
    }

    /// The gradient buffer for a backward that sets every element: when this variable had no
    /// gradient yet, `overwrite` is true and the buffer is uninitialised, so the kernel stores
    /// instead of adding (which saves zeroing the buffer and reading it back).
    func gradientForWriting() -> (pointer: UnsafeMutablePointer<Float>, overwrite: Bool) {
        if gradient == nil {
            gradient = Tensor(uninitializedShape: value.shape)
            return (gradient!.storage.pointer, true)
        }
        return (gradientForAccumulation(), false)
    }

    /// Adds `contribution` (same element count) into the gradient.
    func accumulateGradient(_ contribution: Tensor) {
        precondition(contribution.count == value.count,
                     "Gradient of shape \(contribution.shape) does not fit variable of shape \(value.shape)")
        if gradient == nil, contribution.shape == value.shape {
            gradient = contribution
            return
        }
        let destination = gradientForAccumulation()
        contribution.withUnsafeBufferPointer { source in
            for index in source.indices { destination[index] += source[index] }
        }
    }

    /// Sets the gradient to zero, keeping its buffer (parameters between steps).
    public func zeroGradient() {
        if gradient != nil { gradient!.fill(with: 0) }
    }

    // MARK: Backward

    /// Back-propagates from this variable. A scalar is seeded with 1; any other shape needs an
    /// explicit `seed` (the gradient of some outer function with respect to this value).
    public func backward(seed: Tensor? = nil) {
        precondition(requiresGradient, "backward() called on a variable of shape \(shape) that depends on no parameter")
        if let seed {
            precondition(seed.shape == value.shape,
                         "backward seed of shape \(seed.shape) does not match variable of shape \(value.shape)")
            accumulateGradient(seed)
        } else {
            precondition(value.count == 1, "backward() without a seed needs a scalar, got shape \(value.shape)")
            accumulateGradient(Tensor(shape: value.shape, repeating: 1))
        }
        for node in topologicalOrder().reversed() {
            guard let function = node.backwardFunction else { continue }
            if node.gradient != nil { function(node) }
            // The graph is used once: free what it holds as soon as possible.
            node.backwardFunction = nil
            if !node.isLeaf { node.gradient = nil }
        }
    }

    /// Parents before children, iteratively (deep graphs such as long GRU loops would overflow
    /// a recursive walk's stack).
    func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(node: Variable, parentIndex: Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (node, parentIndex) = stack.last {
            if parentIndex < node.parents.count {
                stack[stack.count - 1].parentIndex += 1
                let parent = node.parents[parentIndex]
                if parent.requiresGradient, visited.insert(ObjectIdentifier(parent)).inserted {
                    stack.append((parent, 0))
                }
            } else {
                order.append(node)
                stack.removeLast()
            }
        }
        return order
    }
}

/// Pointers to an op's inputs and output, for kernels that read several tensors.
extension Tensor {
    /// Read-only base address; valid while the tensor (or a copy) is alive and unmodified.
    var readPointer: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

    /// Writable base address, after copy-on-write made the storage this tensor's own.
    var mutablePointer: UnsafeMutablePointer<Float> {
        mutating get {
            makeUnique()
            return storage.pointer
        }
    }
}
