import Foundation

/// Points in a feature space: `count` rows of `dimension` values, row after row.
public struct FeaturePoints: Sendable {
    public let dimension: Int
    public private(set) var values: [Double]

    public init(dimension: Int, values: [Double] = []) {
        precondition(dimension > 0 && values.count % dimension == 0, "values must fill whole rows")
        self.dimension = dimension
        self.values = values
    }

    public var count: Int { values.count / dimension }

    public mutating func append(_ row: ArraySlice<Float>) {
        precondition(row.count == dimension, "a row of \(row.count) values in a \(dimension)-dimensional space")
        values += row.map(Double.init)
    }

    public mutating func append(contentsOf other: FeaturePoints) {
        precondition(other.dimension == dimension, "feature spaces differ")
        values += other.values
    }

    /// Euclidean distances from row `row` to every row of `other` (in double precision, summed
    /// directly rather than through ‖a‖² + ‖b‖² − 2ab, so near-ties are decided as numpy/sklearn
    /// decide them on the same points).
    func distances(fromRow row: Int, to other: FeaturePoints, into result: inout [Double]) {
        let dimension = self.dimension
        result.removeAll(keepingCapacity: true)
        values.withUnsafeBufferPointer { mine in
            other.values.withUnsafeBufferPointer { theirs in
                let base = row * dimension
                for index in 0..<other.count {
                    let otherBase = index * dimension
                    var sum = 0.0
                    for component in 0..<dimension {
                        let difference = mine[base + component] - theirs[otherBase + component]
                        sum += difference * difference
                    }
                    result.append(sum.squareRoot())
                }
            }
        }
    }
}

/// Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020) of fake
/// points against real ones, with k-nearest-neighbour balls, as the reference `prdc` package
/// computes them: a point's radius is the distance to its k-th nearest other point of its own set;
/// precision is the share of fakes inside some real ball, recall the share of reals inside some
/// fake ball, density the mean number of real balls holding a fake divided by k, coverage the share
/// of reals whose ball holds at least one fake. Comparisons are strict (<).
public struct PRDC: Codable, Equatable, Sendable {
    public var precision: Double
    public var recall: Double
    public var density: Double
    public var coverage: Double
}

/// Distances to each point's k-th nearest neighbour in its own set (itself excluded), and the mean
/// distance over all pairs of distinct points.
public func nearestNeighbourRadii(_ points: FeaturePoints, k: Int) -> (radii: [Double], meanPairwiseDistance: Double?) {
    precondition(k >= 1 && points.count > k, "need more than k points")
    var radii: [Double] = [], row: [Double] = [], smallest: [Double] = []
    var pairSum = 0.0
    for index in 0..<points.count {
        points.distances(fromRow: index, to: points, into: &row)
        // The k + 1 smallest distances, the point's own zero among them (as prdc takes the
        // (k+1)-th smallest of the row).
        smallest.removeAll(keepingCapacity: true)
        for (other, distance) in row.enumerated() {
            if other > index { pairSum += distance }
            if smallest.count < k + 1 {
                smallest.insert(distance, at: smallest.firstIndex { $0 > distance } ?? smallest.count)
            } else if distance < smallest[k] {
                smallest.removeLast()
                smallest.insert(distance, at: smallest.firstIndex { $0 > distance } ?? smallest.count)
            }
        }
        radii.append(smallest[k])
    }
    let pairs = points.count * (points.count - 1) / 2
    return (radii, pairs > 0 ? pairSum / Double(pairs) : nil)
}

/// PRDC with the radii already known (so per-set work is shared with the diversity figures).
public func precisionRecallDensityCoverage(real: FeaturePoints, realRadii: [Double], fake: FeaturePoints, fakeRadii: [Double],
                                           k: Int) -> PRDC {
    precondition(real.count == realRadii.count && fake.count == fakeRadii.count && real.count > 0 && fake.count > 0)
    var realBallsHoldingFake = [Int](repeating: 0, count: fake.count)
    var realsInsideSomeFakeBall = 0, coveredReals = 0
    var row: [Double] = []
    for realIndex in 0..<real.count {
        real.distances(fromRow: realIndex, to: fake, into: &row)
        let radius = realRadii[realIndex]
        var insideFakeBall = false
        var nearest = Double.infinity
        for (fakeIndex, distance) in row.enumerated() {
            if distance < radius { realBallsHoldingFake[fakeIndex] += 1 }
            if distance < fakeRadii[fakeIndex] { insideFakeBall = true }
            nearest = min(nearest, distance)
        }
        if insideFakeBall { realsInsideSomeFakeBall += 1 }
        if nearest < radius { coveredReals += 1 }
    }
    let fakeCount = Double(fake.count), realCount = Double(real.count)
    return PRDC(precision: Double(realBallsHoldingFake.filter { $0 > 0 }.count) / fakeCount,
                recall: Double(realsInsideSomeFakeBall) / realCount,
                density: Double(realBallsHoldingFake.reduce(0, +)) / (Double(k) * fakeCount),
                coverage: Double(coveredReals) / realCount)
}

/// PRDC from scratch; nil when either set has k points or fewer.
public func precisionRecallDensityCoverage(real: FeaturePoints, fake: FeaturePoints, k: Int) -> PRDC? {
    guard real.count > k, fake.count > k else { return nil }
    return precisionRecallDensityCoverage(real: real, realRadii: nearestNeighbourRadii(real, k: k).radii,
                                          fake: fake, fakeRadii: nearestNeighbourRadii(fake, k: k).radii, k: k)
}
