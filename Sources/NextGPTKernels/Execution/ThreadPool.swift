import CNextGPTKernels
import Glibc
import NextGPTCore
import Synchronization

/// Persistent workers for data-parallel kernels. `parallelFor` splits `count` indices into one
/// contiguous range per participant (the caller is participant 0); workers spin briefly on the
/// job counter, then sleep on a condition variable. A pool runs one job at a time: a call made
/// while it is busy (from inside a job, or concurrently from another thread) runs on the calling
/// thread instead, so nesting and concurrent use never deadlock.
// @unchecked: the pthread mutex/condition live at fixed allocated addresses, every other shared
// field is atomic or set only in `init`, and `job` is written by the one thread that won `busy`
// before `generation` is bumped (release) and read by workers after they see it (acquire).
public final class ThreadPool: @unchecked Sendable {
    /// Participants, the calling thread included.
    public let threads: Int

    private let generation = Atomic<Int>(0)
    private let pending = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let stopping = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    /// Open `keepingWorkersAwake` scopes: while > 0 idle workers spin past `spinLimit`.
    private let awake = Atomic<Int>(0)
    // Allocated, not stored inline: `&property` of a class gives no stable address to hand to pthreads.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Written only in `init`, joined in `deinit`.
    private var workers: [pthread_t] = []
    /// The running job: participant index → work. Written before `generation` is bumped, by the
    /// thread holding `busy`; workers read it only after seeing the new generation.
    nonisolated(unsafe) private var job: ((Int) -> Void)?
    /// Spin iterations (each a pause instruction, ~20–40 ns on Zen) before a worker sleeps: long
    /// enough to bridge back-to-back kernels, short enough not to starve other threads when the
    /// cores are shared.
    private let spinLimit: Int

    public init(threads: Int, spinLimit: Int = 4_000) {
        self.threads = max(1, threads)
        self.spinLimit = spinLimit
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
        for index in 1..<self.threads {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                context.pool.workerLoop(index: context.index)
                return nil
            }, context)
            precondition(rc == 0, "pthread_create failed: \(rc)")
            workers.append(thread)
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
        for thread in workers { pthread_join(thread, nil) }
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        cond.deallocate()
        mutex.deallocate()
    }

    private final class WorkerContext {
        unowned(unsafe) let pool: ThreadPool
        let index: Int
        init(pool: ThreadPool, index: Int) { self.pool = pool; self.index = index }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var current = generation.load(ordering: .acquiring)
            var spins = 0
            while current == seen && (spins < spinLimit || awake.load(ordering: .relaxed) > 0) {
                ngk_cpu_relax()
                spins += 1
                current = generation.load(ordering: .acquiring)
            }
            if current == seen {
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(cond, mutex) }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            if stopping.load(ordering: .acquiring) { return }
            job?(index)
            pending.subtract(1, ordering: .releasing)
        }
    }

    /// Runs `body` with the idle workers spinning instead of sleeping between jobs, as llama.cpp's
    /// workers poll through one token's graph. A decoded token is a few hundred short jobs separated
    /// by serial work (norms, RoPE, quantizing the activation) that often outlasts `spinLimit`; each
    /// job then starts with a condition-variable wake-up. Scope it to one forward pass: spinning
    /// holds the cores the pool's threads run on.
    public func keepingWorkersAwake<R>(_ body: () throws -> R) rethrows -> R {
        awake.add(1, ordering: .relaxed)
        defer { awake.subtract(1, ordering: .relaxed) }
        return try body()
    }

    /// Workers asleep on the condition variable now (tests).
    var sleepingWorkers: Int { sleepers.load(ordering: .sequentiallyConsistent) }

    /// Runs `body(participant)` once for every participant in `0..<participants` (≤ threads)
    /// and returns when all are done.
    public func run(participants: Int, _ body: (Int) -> Void) {
        let n = min(max(1, participants), threads)
        if n == 1 || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            for i in 0..<n { body(i) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            // Workers beyond `n` still wake and decrement, doing nothing.
            let all = threads
            job = { index in if index < n { body(index) } }
            pending.store(all - 1, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(cond)
                pthread_mutex_unlock(mutex)
            }
            body(0)
            var spins = 0
            while pending.load(ordering: .acquiring) > 0 {
                spins += 1
                if spins < 4_000 { ngk_cpu_relax() } else { sched_yield() }
            }
            job = nil
        }
    }

    /// Static contiguous partition of `0..<count`: participant i gets one range, in order.
    /// `minimumPerThread` keeps small jobs on fewer threads.
    public func parallelFor(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let n = min(threads, max(1, count / max(1, minimumPerThread)))
        if n == 1 { body(0..<count); return }
        run(participants: n) { i in
            let lo = count * i / n, hi = count * (i + 1) / n
            if hi > lo { body(lo..<hi) }
        }
    }

    /// `0..<count` in consecutive chunks of `chunk` indices, handed out in order to whichever
    /// participant asks next: a participant that is descheduled or slowed (shared cores) leaves its
    /// remaining chunks to the others instead of holding everyone at the end of the job. With one
    /// participant (or one chunk) `body` gets the whole range at once.
    public func parallelFor(_ count: Int, chunk: Int, participants: Int? = nil, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunk = max(1, chunk), chunks = (count + chunk - 1) / chunk
        let n = min(participants ?? threads, threads, chunks)
        if n == 1 { body(0..<count); return }
        let next = ChunkCounter()
        run(participants: n) { _ in
            while true {
                let c = next.value.add(1, ordering: .relaxed).oldValue
                guard c < chunks else { return }
                body((c * chunk)..<min(count, (c + 1) * chunk))
            }
        }
    }

    private final class ChunkCounter: Sendable {
        let value = Atomic<Int>(0)
    }

    /// `body(index)` for every index in `0..<count`, contiguous ranges per thread.
    public func parallelFor(each count: Int, _ body: (Int) -> Void) {
        parallelFor(count) { range in for i in range { body(i) } }
    }
}

/// Free kernels that split their work over a context's pool (`Kernels.sgemm`).
public enum Kernels {}
