import ReptileCore

/// How records are divided into train / val / test.
public struct SplitOptions: Sendable, Equatable {
    /// Share of each class held out for test when there is no separate test source.
    public var testFraction: Double = 0.2
    /// Share of each class held out for validation (of the whole source, like testFraction).
    public var validationFraction: Double = 0
    /// Keep only this many training records per class (low-data experiments). Test is never reduced.
    public var perClass: Int? = nil
    /// With `perClass`: a class with fewer training records keeps all of them instead of failing
    /// (TREC's ABBR has 86 training questions, so `--per-class 100` is otherwise impossible there).
    public var allowFewer: Bool = false
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
/// exactly that many (an error when a class has fewer, since the experiment would be unequal,
/// unless `allowFewer` says to keep all of that class's records).
public func planSplits(labels: [Int], classNames: [String], testLabels: [Int]?, options: SplitOptions) throws -> SplitPlan {
    let random = SeededRandom(seed: options.seed)
    var plan = SplitPlan()
    var byClass = [[Int]](repeating: [], count: classNames.count)
    for (index, label) in labels.enumerated() { byClass[label].append(index) }
    let testFraction = testLabels == nil ? options.testFraction : 0
    let sizes = byClass.map(\.count)
    // Never take a class's last training record.
    let testCounts = allocate(fraction: testFraction, of: sizes, limits: sizes.map { max($0 - 1, 0) })
    let validationCounts = allocate(fraction: options.validationFraction, of: sizes,
                                    limits: zip(sizes, testCounts).map { max($0 - 1 - $1, 0) })
    for (label, members) in byClass.enumerated() {
        var shuffled = members
        var classRandom = random.derived("split/class/\(label)")
        classRandom.shuffle(&shuffled)
        let testCount = testCounts[label], validationCount = validationCounts[label]
        plan.test += shuffled[0..<testCount]
        plan.validation += shuffled[testCount..<(testCount + validationCount)]
        var training = Array(shuffled[(testCount + validationCount)...])
        if let perClass = options.perClass {
            guard training.count >= perClass || options.allowFewer else {
                throw ReptileError("class \(quoted(classNames[label])) has only \(training.count) training records, fewer than --per-class \(perClass)",
                                   fix: "lower --per-class to at most \(training.count), lower --test-fraction/--val-fraction, or add --allow-fewer to keep all of that class")
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

/// Per-class counts whose total is the fraction of the whole, rounded: each class gets the floor of
/// its share, and the records left over go to the classes with the largest remainders (ties to the
/// lower class index). So `--test-fraction 0.2` of 500 records is exactly 100, stratified.
func allocate(fraction: Double, of sizes: [Int], limits: [Int]) -> [Int] {
    guard fraction > 0 else { return sizes.map { _ in 0 } }
    let shares = sizes.map { Double($0) * fraction }
    var counts = zip(shares, limits).map { min(Int($0.rounded(.down)), $1) }
    let target = Int((Double(sizes.reduce(0, +)) * fraction).rounded())
    let order = shares.indices.sorted { (shares[$0] - shares[$0].rounded(.down), -$0) > (shares[$1] - shares[$1].rounded(.down), -$1) }
    var missing = target - counts.reduce(0, +)
    for index in order where missing > 0 && counts[index] < limits[index] {
        counts[index] += 1
        missing -= 1
    }
    return counts
}
