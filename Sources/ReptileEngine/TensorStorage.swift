import Synchronization

/// A block of Float32 memory owned by one or more tensors.
///
/// Blocks come from `StoragePool` and go back to it when the last tensor lets go, so a training
/// step after the first reuses the blocks of the step before instead of asking the system for
/// fresh pages (fresh pages cost ~2 µs per 4 KiB on this VM, see docs/platform.md §4).
final class TensorStorage {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    private let pool: StoragePool

    /// Uninitialised memory: the caller writes every element before reading any.
    init(uninitializedCount count: Int) {
        self.count = count
        self.pool = StoragePool.current
        self.pointer = pool.take(count: count)
    }

    convenience init(zeroedCount count: Int) {
        self.init(uninitializedCount: count)
        pointer.update(repeating: 0, count: count)
    }

    func copy() -> TensorStorage {
        let duplicate = TensorStorage(uninitializedCount: count)
        duplicate.pointer.update(from: pointer, count: count)
        return duplicate
    }

    deinit {
        pool.recycle(pointer, count: count)
    }
}

/// Free blocks of tensor memory, by exact element count.
///
/// Training uses the same few shapes step after step, so exact sizes find a match every time after
/// the first step. `freshAllocationCount` counts the blocks that had to come from the system: a test
/// uses it to show that a second step allocates no new storage.
public final class StoragePool: Sendable {
    public static let shared = StoragePool()

    /// The pool new storage comes from; a test can give its own work a private pool to count
    /// allocations without seeing those of tests running beside it.
    @TaskLocal public static var current: StoragePool = .shared

    /// Free blocks beyond this many elements go back to the system instead of the pool: blocks are
    /// kept by exact size, and a workload whose sizes keep changing (text batches of varying
    /// length) would otherwise cache every size it ever saw (a PPO run on SMS grew to 24 GB).
    public let maximumPooledElements: Int

    /// 2^28 elements, 1 GiB: several times what a fixed-size training step keeps (W4 ≈ 170 MB).
    public init(maximumPooledElements: Int = 1 << 28) {
        self.maximumPooledElements = maximumPooledElements
    }

    deinit { releaseFreeBlocks() }

    private struct FreeLists {
        // Addresses rather than pointers, so the state is Sendable; only this type turns them back.
        var blocksByCount: [Int: [UInt]] = [:]
        var freshAllocationCount = 0
        var pooledElementCount = 0
    }

    private let state = Mutex(FreeLists())

    public var freshAllocationCount: Int { state.withLock { $0.freshAllocationCount } }
    public var pooledElementCount: Int { state.withLock { $0.pooledElementCount } }

    func take(count: Int) -> UnsafeMutablePointer<Float> {
        let reused: UInt? = state.withLock { lists in
            guard let address = lists.blocksByCount[count]?.popLast() else {
                lists.freshAllocationCount += 1
                return nil
            }
            lists.pooledElementCount -= count
            return address
        }
        if let reused, let pointer = UnsafeMutablePointer<Float>(bitPattern: reused) { return pointer }
        // One element at least, so an empty tensor still owns a unique, freeable block.
        return UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
    }

    func recycle(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        let address = UInt(bitPattern: pointer)
        let pooled = state.withLock { lists in
            guard lists.pooledElementCount + count <= maximumPooledElements else { return false }
            lists.blocksByCount[count, default: []].append(address)
            lists.pooledElementCount += count
            return true
        }
        if !pooled { pointer.deallocate() }
    }

    /// Returns every free block to the system (e.g. between unrelated jobs in one process).
    public func releaseFreeBlocks() {
        let addresses = state.withLock { lists in
            let all = lists.blocksByCount.values.flatMap { $0 }
            lists.blocksByCount = [:]
            lists.pooledElementCount = 0
            return all
        }
        for address in addresses {
            UnsafeMutablePointer<Float>(bitPattern: address)?.deallocate()
        }
    }
}
