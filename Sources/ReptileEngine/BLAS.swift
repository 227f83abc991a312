// The only file that talks to OpenBLAS. Everything else calls `matrixMultiply` and `BLAS`.
import COpenBLAS
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// C = alpha · op(A) · op(B) + beta · C, all row-major, through `cblas_sgemm`.
///
/// op(A) is `rows × inner`, op(B) is `inner × columns`, C is `rows × columns`. A is stored as
/// `rows × inner` (or `inner × rows` when `transposeA`), B as `inner × columns` (or
/// `columns × inner` when `transposeB`). beta = 1 accumulates, which is how backward passes add
/// into gradient buffers without a temporary. The strides (elements from one stored row to the
/// next) default to packed matrices; a larger one addresses a block of columns inside a wider
/// matrix, as attention does with one head's columns of [B, S, heads·d] activations.
func matrixMultiply(
    _ a: UnsafePointer<Float>, transposeA: Bool = false,
    _ b: UnsafePointer<Float>, transposeB: Bool = false,
    into c: UnsafeMutablePointer<Float>,
    rows: Int, columns: Int, inner: Int,
    alpha: Float = 1, beta: Float = 0,
    strideA: Int? = nil, strideB: Int? = nil, strideC: Int? = nil
) {
    precondition(rows >= 0 && columns >= 0 && inner >= 0,
                 "matrixMultiply got negative sizes rows \(rows), columns \(columns), inner \(inner)")
    let leadingA = strideA ?? (transposeA ? rows : inner)
    let leadingB = strideB ?? (transposeB ? inner : columns)
    let leadingC = strideC ?? columns
    precondition(leadingA >= (transposeA ? rows : inner) && leadingB >= (transposeB ? inner : columns) && leadingC >= columns,
                 "matrixMultiply strides \(leadingA), \(leadingB), \(leadingC) are shorter than the rows they step over")
    if rows == 0 || columns == 0 { return }
    if inner == 0 {
        // sgemm with K = 0 only scales C; do it here so the result does not depend on the library.
        for row in 0..<rows {
            for column in 0..<columns {
                let index = row * leadingC + column
                c[index] = beta == 0 ? 0 : beta * c[index]
            }
        }
        return
    }
    let profiling = BLAS.profile.isOn
    let start = profiling ? DispatchTime.now().uptimeNanoseconds : 0
    defer { if profiling { BLAS.profile.record(since: start, rows: rows, columns: columns, inner: inner) } }
    // OpenBLAS runs single-threaded; a large product is split here into one block of rows (or of
    // columns) per engine worker. OpenBLAS's own threads spin for about 0.1 s after each call and
    // would take the second core from the engine's workers (convolutions, elementwise loops) that
    // run next (docs/platform.md §3); idle engine workers sleep instead.
    let workers = isInsideWorker ? 1 : gemmWorkerCount(rows: rows, columns: columns, inner: inner)
    if workers == 1 {
        singleThreadedMatrixMultiply(a, transposeA: transposeA, b, transposeB: transposeB, into: c,
                                     rows: rows, columns: columns, inner: inner, alpha: alpha, beta: beta,
                                     leadingA: leadingA, leadingB: leadingB, leadingC: leadingC)
    } else if rows >= columns {
        runWorkers(workers) { worker in
            let block = workerRange(worker, of: workers, count: rows)
            // Rows r of op(A) start at row r of A, or at column r when A is stored transposed.
            singleThreadedMatrixMultiply(a + block.lowerBound * (transposeA ? 1 : leadingA), transposeA: transposeA,
                                         b, transposeB: transposeB, into: c + block.lowerBound * leadingC,
                                         rows: block.count, columns: columns, inner: inner, alpha: alpha, beta: beta,
                                         leadingA: leadingA, leadingB: leadingB, leadingC: leadingC)
        }
    } else {
        runWorkers(workers) { worker in
            let block = workerRange(worker, of: workers, count: columns)
            singleThreadedMatrixMultiply(a, transposeA: transposeA,
                                         b + block.lowerBound * (transposeB ? leadingB : 1), transposeB: transposeB,
                                         into: c + block.lowerBound,
                                         rows: rows, columns: block.count, inner: inner, alpha: alpha, beta: beta,
                                         leadingA: leadingA, leadingB: leadingB, leadingC: leadingC)
        }
    }
}

private func singleThreadedMatrixMultiply(
    _ a: UnsafePointer<Float>, transposeA: Bool, _ b: UnsafePointer<Float>, transposeB: Bool,
    into c: UnsafeMutablePointer<Float>, rows: Int, columns: Int, inner: Int, alpha: Float, beta: Float,
    leadingA: Int, leadingB: Int, leadingC: Int
) {
    BLAS.pinLibraryToOneThread()
    // With beta = 0 OpenBLAS first clears C in its generic scalar loop (sgemm_beta: 6.6 % of W4's
    // step, 3.4 % of W1's); a vector fill here and beta = 1 leave the same bits, sooner.
    var beta = beta
    if beta == 0 {
        if leadingC == columns {
            c.update(repeating: 0, count: rows * columns)
        } else {
            for row in 0..<rows { (c + row * leadingC).update(repeating: 0, count: columns) }
        }
        beta = 1
    }
    cblas_sgemm(CblasRowMajor,
                transposeA ? CblasTrans : CblasNoTrans,
                transposeB ? CblasTrans : CblasNoTrans,
                blasInt(rows), blasInt(columns), blasInt(inner),
                alpha, a, blasInt(leadingA), b, blasInt(leadingB),
                beta, c, blasInt(leadingC))
}

/// Engine workers for one product: one per thread when each gets at least `minimumGEMMWork`
/// multiply-adds and 16 rows (or columns) of the dimension split; below that the dispatch costs
/// more than it saves (OpenBLAS keeps 64×64×64 single-threaded for the same reason).
func gemmWorkerCount(rows: Int, columns: Int, inner: Int) -> Int {
    let threads = BLAS.threadCount
    guard threads > 1 else { return 1 }
    let byWork = rows * columns * inner / minimumGEMMWork
    let bySplitDimension = max(rows, columns) / 16
    return max(1, min(threads, byWork, bySplitDimension))
}

private let minimumGEMMWork = 1 << 21

/// Tensor-level product of two matrices: [m, k] · [k, n] → [m, n] (with optional transposes).
public func matrixMultiply(_ a: Tensor, transposeA: Bool = false, _ b: Tensor, transposeB: Bool = false) -> Tensor {
    precondition(a.rank == 2 && b.rank == 2,
                 "matrixMultiply needs two matrices, got shapes \(a.shape) and \(b.shape)")
    let rows = transposeA ? a.shape[1] : a.shape[0]
    let inner = transposeA ? a.shape[0] : a.shape[1]
    let innerB = transposeB ? b.shape[1] : b.shape[0]
    let columns = transposeB ? b.shape[0] : b.shape[1]
    precondition(inner == innerB,
                 "matrixMultiply inner sizes differ: shapes \(a.shape)\(transposeA ? "ᵀ" : "") and \(b.shape)\(transposeB ? "ᵀ" : "")")
    var result = Tensor(uninitializedShape: [rows, columns])
    a.withUnsafeBufferPointer { aBuffer in
        b.withUnsafeBufferPointer { bBuffer in
            result.withUnsafeMutableBufferPointer { cBuffer in
                matrixMultiply(aBuffer.baseAddress!, transposeA: transposeA, bBuffer.baseAddress!, transposeB: transposeB,
                               into: cBuffer.baseAddress!, rows: rows, columns: columns, inner: inner)
            }
        }
    }
    return result
}

private func blasInt(_ value: Int) -> blasint {
    precondition(value <= Int(blasint.max), "matrix size \(value) exceeds the BLAS integer range")
    return blasint(value)
}

public enum BLAS {
    /// The engine's threads: the workers of its parallel kernels (`runWorkers`), among them the
    /// blocks of a large matrix product. OpenBLAS itself always runs on one thread.
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLAS thread count must be at least 1, got \(count)")
        configuredThreads.store(count, ordering: .relaxed)
    }

    /// A thread count for the current task only, ahead of the process-wide one: code that compares
    /// two runs bit for bit in one process (tests) must not see another task change the count
    /// between them, since the engine's worker count decides the order of its partial sums.
    @TaskLocal public static var taskThreadCount: Int?

    public static var threadCount: Int {
        if let taskThreadCount { return taskThreadCount }
        let configured = configuredThreads.load(ordering: .relaxed)
        return configured > 0 ? configured : libraryDefaultThreadCount
    }

    /// What `setThreadCount` asked for (0: never called, OpenBLAS's default applies).
    private static let configuredThreads = Atomic<Int>(0)

    /// OpenBLAS's own default (OPENBLAS_NUM_THREADS, else the cores), read once before the
    /// library is pinned to one thread.
    private static let libraryDefaultThreadCount: Int = {
        let count = max(1, Int(openblas_get_num_threads()))
        openblas_set_num_threads(1)
        return count
    }()

    /// Makes sure OpenBLAS runs single-threaded (done once, on first use).
    static func pinLibraryToOneThread() { _ = libraryDefaultThreadCount }

    /// The kernels OpenBLAS runs on ("Haswell", "SkylakeX", …), chosen while the library loads from
    /// the CPU or from `$OPENBLAS_CORETYPE`.
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Time and floating-point work inside sgemm, counted only while switched on (`reptile bench`).
    public static let profile = SgemmProfile()
}

/// Accumulates the wall time spent in `cblas_sgemm` and its 2·M·N·K flops. Off by default; when
/// on, each call costs two monotonic clock reads and two relaxed atomic adds.
public final class SgemmProfile: Sendable {
    private let enabled = Atomic<Bool>(false)
    private let elapsed = Atomic<UInt64>(0)
    private let work = Atomic<UInt64>(0)

    public var isOn: Bool { enabled.load(ordering: .relaxed) }
    public func setOn(_ on: Bool) { enabled.store(on, ordering: .relaxed) }

    /// Clears the counters (whether on or off).
    public func reset() {
        elapsed.store(0, ordering: .relaxed)
        work.store(0, ordering: .relaxed)
    }

    /// Seconds inside sgemm since the last reset.
    public var seconds: Double { Double(elapsed.load(ordering: .relaxed)) / 1e9 }
    /// Floating-point operations (2·M·N·K per call) since the last reset.
    public var flops: Double { Double(work.load(ordering: .relaxed)) }

    func record(since start: UInt64, rows: Int, columns: Int, inner: Int) {
        elapsed.add(DispatchTime.now().uptimeNanoseconds &- start, ordering: .relaxed)
        work.add(UInt64(2 * rows * columns * inner), ordering: .relaxed)
    }
}

/// Runs `body(worker)` for worker in 0..<workers, at the same time on `workers` threads; a
/// matrix product inside a worker stays on that worker's thread. With one worker, just calls
/// `body(0)`. Work must be split by worker index, not by which thread is free, so results do not
/// depend on timing; callers combine per-worker partial sums in worker order.
func runWorkers(_ workers: Int, _ body: (Int) -> Void) {
    if workers <= 1 {
        body(0)
        return
    }
    withoutActuallyEscaping(body) { work in
        nonisolated(unsafe) let sendableWork = work
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            // Worker 0 may run on the calling thread, itself perhaps a worker: restore, not clear.
            let outer = pthread_getspecific(insideWorkerKey)
            pthread_setspecific(insideWorkerKey, insideWorkerMarker)
            sendableWork(worker)
            pthread_setspecific(insideWorkerKey, outer)
        }
    }
}

/// Whether the current thread is running a `runWorkers` body (a thread-local flag; task-locals do
/// not reach the dispatch threads).
private var isInsideWorker: Bool { pthread_getspecific(insideWorkerKey) != nil }

private let insideWorkerKey: pthread_key_t = {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
    return key
}()

/// Any non-nil pointer marks a worker thread.
nonisolated(unsafe) private let insideWorkerMarker = UnsafeMutableRawPointer(bitPattern: 1)!

/// Runs `body` over 0..<count split into contiguous ranges, one per engine thread, when each
/// range gets at least `minimumPerWorker` elements (below that, thread start-up costs more than it
/// saves: docs/platform.md §4 measured the break-even near 1M elements for memory-bound loops, 250K for
/// compute-bound ones); else over the whole range at once. For loops whose elements are
/// independent, so the split changes no result.
func forEachRange(count: Int, minimumPerWorker: Int, _ body: (Range<Int>) -> Void) {
    let workers = workerCount(count: count, minimumPerWorker: minimumPerWorker)
    if workers == 1 {
        body(0..<count)
        return
    }
    runWorkers(workers) { worker in body(workerRange(worker, of: workers, count: count)) }
}

/// The engine threads worth using on `count` items of which each thread should get `minimumPerWorker`.
func workerCount(count: Int, minimumPerWorker: Int) -> Int {
    max(1, min(BLAS.threadCount, count / max(minimumPerWorker, 1)))
}

/// The images of `batch` that worker `worker` of `workers` handles: contiguous, sizes differing by at most one.
func workerRange(_ worker: Int, of workers: Int, count: Int) -> Range<Int> {
    (worker * count / workers)..<((worker + 1) * count / workers)
}

/// sqrt that vectorises (the C builtin has no errno side effect); see docs/platform.md §4.
@inline(__always)
func fastSquareRoot(_ value: Float) -> Float { reptile_sqrtf(value) }
