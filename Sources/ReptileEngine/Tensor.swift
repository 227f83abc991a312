import Foundation
import ReptileCore

/// Float32 values on the CPU, row-major (the last dimension is contiguous), with value semantics.
///
/// Copies share storage until one of them is written (copy-on-write), so `reshaped` costs nothing.
/// Kernels reach the memory through `withUnsafeBufferPointer` / `withUnsafeMutableBufferPointer`,
/// whose plain loops vectorise (docs/platform.md §4).
public struct Tensor: CustomStringConvertible {
    public private(set) var shape: [Int]
    var storage: TensorStorage

    public var count: Int { storage.count }
    public var rank: Int { shape.count }

    /// Memory whose contents are undefined: for kernels that write every element.
    init(uninitializedShape shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(uninitializedCount: Tensor.elementCount(of: shape))
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(zeroedCount: Tensor.elementCount(of: shape))
    }

    public init(shape: [Int], repeating value: Float) {
        self.init(uninitializedShape: shape)
        storage.pointer.update(repeating: value, count: count)
    }

    public init(shape: [Int], values: [Float]) {
        let expected = Tensor.elementCount(of: shape)
        precondition(values.count == expected,
                     "Tensor of shape \(shape) needs \(expected) values, got \(values.count)")
        self.init(uninitializedShape: shape)
        values.withUnsafeBufferPointer { source in
            storage.pointer.update(from: source.baseAddress!, count: expected)
        }
    }

    public init(scalar: Float) {
        self.init(shape: [], values: [scalar])
    }

    /// Standard normal draws (Box–Muller on the seeded generator), times `standardDeviation`.
    public init(normalShape shape: [Int], standardDeviation: Float = 1, random: inout SeededRandom) {
        self.init(uninitializedShape: shape)
        let pointer = storage.pointer
        var index = 0
        while index < count {
            // 1 - u keeps the logarithm's argument in (0, 1].
            let radius = (-2 * log(1 - random.nextUnitDouble())).squareRoot()
            let angle = 2 * Double.pi * random.nextUnitDouble()
            pointer[index] = Float(radius * cos(angle)) * standardDeviation
            if index + 1 < count { pointer[index + 1] = Float(radius * sin(angle)) * standardDeviation }
            index += 2
        }
    }

    /// Uniform draws in [lowerBound, upperBound).
    public init(uniformShape shape: [Int], in range: ClosedRange<Float>, random: inout SeededRandom) {
        self.init(uninitializedShape: shape)
        let width = range.upperBound - range.lowerBound
        for index in 0..<count {
            storage.pointer[index] = range.lowerBound + width * random.nextUnitFloat()
        }
    }

    static func elementCount(of shape: [Int]) -> Int {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative dimension")
        return shape.reduce(1, *)
    }

    // MARK: Access

    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: storage.pointer, count: count))
    }

    /// The single value of a tensor with one element (a loss, for instance).
    public var scalarValue: Float {
        precondition(count == 1, "scalarValue needs a tensor with one element, got shape \(shape)")
        return storage.pointer[0]
    }

    public subscript(flatIndex index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "Flat index \(index) is outside tensor of shape \(shape)")
            return storage.pointer[index]
        }
        set {
            precondition(index >= 0 && index < count, "Flat index \(index) is outside tensor of shape \(shape)")
            makeUnique()
            storage.pointer[index] = newValue
        }
    }

    public func withUnsafeBufferPointer<Result>(_ body: (UnsafeBufferPointer<Float>) throws -> Result) rethrows -> Result {
        try withExtendedLifetime(storage) {
            try body(UnsafeBufferPointer(start: storage.pointer, count: count))
        }
    }

    public mutating func withUnsafeMutableBufferPointer<Result>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        makeUnique()
        return try withExtendedLifetime(storage) {
            try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
        }
    }

    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// The same values under another shape with as many elements; shares storage.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(Tensor.elementCount(of: newShape) == count,
                     "Cannot reshape tensor of shape \(shape) (\(count) elements) to \(newShape)")
        var copy = self
        copy.shape = newShape
        return copy
    }

    public mutating func fill(with value: Float) {
        withUnsafeMutableBufferPointer { buffer in
            for index in buffer.indices { buffer[index] = value }
        }
    }

    public var description: String {
        let preview = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor(shape: \(shape), values: [\(preview)\(count > 8 ? ", …" : "")])"
    }
}
