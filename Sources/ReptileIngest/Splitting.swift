import ReptileCore

/// How records are divided into train / val / test.
public struct SplitOptions: Sendable, Equatable {
    /// Share of each class held out for test when there is no separate test source.
    public var testFraction: Double = 0.2
    /// Share of each class held out for validation (of the whole source, like testFraction).
    public var validationFraction: Double = 0
    /// Keep only this many training records per class (low-data experiments). Test is never reduced.
    public var perClass: Int? = nil
    public var seed: UInt64 = 0
    public var shardSize: Int = 10_000
    public init() {}
}

/// Indices into the source records, per split, each in a seeded shuffled order.
public struct SplitPlan: Equatable, Sendable {
    public var train: [Int] = []
    public var validation: [Int] = []
    /// Indices into the *test* source when there is a separate one, else into the main source.
    public var test: [Int] = []
}

/// Orders class names the way a person expects: numerically when every name is an integer
/// ("2" before "10"), otherwise by Unicode code points.
public func orderedClassNames<Names: Sequence>(_ names: Names) -> [String] where Names.Element == String {
    let unique = Array(Set(names))
    let integers = unique.compactMap { Int($0) }
    if integers.count == unique.count {
        return unique.sorted { Int($0)! < Int($1)! }
    }
    return unique.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
}

/// Stratified, seeded split. Every class keeps at least one training record; with `perClass`,
/// exactly that many (an error when a class has fewer, since the experiment would be unequal).
public func planSplits(labels: [Int], classNames: [String], testLabels: [Int]?, options: SplitOptions) throws -> SplitPlan {
    let random = SeededRandom(seed: options.seed)
    var plan = SplitPlan()
    var byClass = [[Int]](repeating: [], count: classNames.count)
    for (index, label) in labels.enumerated() { byClass[label].append(index) }
    let testFraction = testLabels == nil ? options.testFraction : 0
    for (label, members) in byClass.enumerated() {
        var shuffled = members
        var classRandom = random.derived("split/class/\(label)")
        classRandom.shuffle(&shuffled)
        let total = shuffled.count
        var testCount = Int((Double(total) * testFraction).rounded())
        var validationCount = Int((Double(total) * options.validationFraction).rounded())
        // Never take a class's last training record.
        testCount = min(testCount, max(total - 1, 0))
        validationCount = min(validationCount, max(total - 1 - testCount, 0))
        plan.test += shuffled[0..<testCount]
        plan.validation += shuffled[testCount..<(testCount + validationCount)]
        var training = Array(shuffled[(testCount + validationCount)...])
        if let perClass = options.perClass {
            guard training.count >= perClass else {
                throw ReptileError("class \(quoted(classNames[label])) has only \(training.count) training records, fewer than --per-class \(perClass)",
                                   fix: "lower --per-class to at most \(training.count) or --test-fraction/--val-fraction")
            }
            training = Array(training.prefix(perClass))
        }
        plan.train += training
    }
    if let testLabels { plan.test = Array(testLabels.indices) }
    // Shuffle each split as a whole so that every shard is a fair sample of it.
    for (name, keyPath) in [("train", \SplitPlan.train), ("val", \SplitPlan.validation), ("test", \SplitPlan.test)] {
        var order = random.derived("order/\(name)")
        order.shuffle(&plan[keyPath: keyPath])
    }
    return plan
}
