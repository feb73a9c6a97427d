import Dispatch
import XCTest

@testable import NextGPTKernels

final class ThreadPoolTests: XCTestCase {
    func testEveryIndexVisitedOnceForManySizes() {
        for threads in [1, 2, 3, 5] {
            let pool = ThreadPool(threads: threads)
            for count in [0, 1, 2, 3, 7, 64, 1001] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(1, count))
                hits.initialize(repeating: 0, count: max(1, count))
                pool.parallelFor(each: count) { i in hits[i] += 1 }
                for i in 0..<count { XCTAssertEqual(hits[i], 1, "threads \(threads) count \(count) index \(i)") }
                hits.deallocate()
            }
        }
    }

    /// Chunks handed out on demand: every index once, chunks whole and in `chunk` steps (one
    /// participant: the whole range in one call).
    func testChunksVisitEveryIndexOnce() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool(threads: threads)
            for count in [0, 1, 7, 100, 1001] {
                for chunk in [1, 3, 64] {
                    let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(1, count))
                    hits.initialize(repeating: 0, count: max(1, count))
                    let alone = threads == 1 || count <= chunk
                    pool.parallelFor(count, chunk: chunk) { range in
                        XCTAssertEqual(range.lowerBound % chunk, 0)
                        XCTAssertEqual(range.count, alone ? count : min(chunk, count - range.lowerBound))
                        for i in range { hits[i] += 1 }
                    }
                    for i in 0..<count { XCTAssertEqual(hits[i], 1, "threads \(threads) count \(count) chunk \(chunk) index \(i)") }
                    hits.deallocate()
                }
            }
        }
    }

    func testRangesAreContiguousAndOrdered() {
        let pool = ThreadPool(threads: 3)
        let starts = UnsafeMutablePointer<Int>.allocate(capacity: 3)
        let ends = UnsafeMutablePointer<Int>.allocate(capacity: 3)
        defer { starts.deallocate(); ends.deallocate() }
        pool.run(participants: 3) { i in
            let lo = 100 * i / 3, hi = 100 * (i + 1) / 3
            starts[i] = lo; ends[i] = hi
        }
        XCTAssertEqual(starts[0], 0)
        XCTAssertEqual(ends[0], starts[1])
        XCTAssertEqual(ends[1], starts[2])
        XCTAssertEqual(ends[2], 100)
    }

    func testManyRepeatedCalls() {
        let pool = ThreadPool(threads: 4)
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        defer { sums.deallocate() }
        for round in 0..<5_000 {
            sums.initialize(repeating: 0, count: 64)
            pool.parallelFor(each: 64) { i in sums[i] = i + round }
            var total = 0
            for i in 0..<64 { total += sums[i] }
            if total != 64 * 63 / 2 + 64 * round { XCTFail("round \(round): \(total)"); return }
        }
    }

    func testRepeatedCallsAfterWorkersSleep() {
        let pool = ThreadPool(threads: 2, spinLimit: 10)
        for _ in 0..<200 {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: 10)
            hits.initialize(repeating: 0, count: 10)
            pool.parallelFor(each: 10) { i in hits[i] += 1 }
            XCTAssertEqual((0..<10).map { hits[$0] }, [Int](repeating: 1, count: 10))
            hits.deallocate()
            usleep(200)
        }
    }

    func testNestedUseRunsInlineWithoutDeadlock() {
        let pool = ThreadPool(threads: 3)
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: 30 * 30)
        hits.initialize(repeating: 0, count: 900)
        defer { hits.deallocate() }
        pool.parallelFor(each: 30) { i in
            pool.parallelFor(each: 30) { j in hits[i * 30 + j] += 1 }
        }
        XCTAssertEqual((0..<900).filter { hits[$0] != 1 }.count, 0)
    }

    func testConcurrentCallersDoNotDeadlock() {
        let pool = ThreadPool(threads: 2)
        let callers = 6
        // Each caller writes its own 500 slots; the pool returns before the check reads them.
        nonisolated(unsafe) let hits = UnsafeMutablePointer<Int>.allocate(capacity: callers * 500)
        hits.initialize(repeating: 0, count: callers * 500)
        defer { hits.deallocate() }
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            for round in 0..<50 {
                pool.parallelFor(each: 500) { i in if round == 0 { hits[c * 500 + i] += 1 } }
            }
        }
        XCTAssertEqual((0..<(callers * 500)).filter { hits[$0] != 1 }.count, 0)
    }

    func testSharedPoolDefaultsToCores() {
        XCTAssertGreaterThanOrEqual(ExecutionContext.default.threads, 1)
        XCTAssertEqual(ExecutionContext.default.pool.threads, ExecutionContext.default.threads)
    }

    /// Past `spinLimit` idle workers sleep, except inside `keepingWorkersAwake`; jobs still run
    /// either way, and the scopes nest.
    func testWorkersStayAwakeOnlyInsideTheScope() {
        let pool = ThreadPool(threads: 3, spinLimit: 50)
        func settle() { usleep(50_000) }
        // Falling asleep needs the worker to be scheduled: on a loaded machine allow seconds.
        func asleep() -> Int {
            for _ in 0..<200 where pool.sleepingWorkers < 2 { usleep(25_000) }
            return pool.sleepingWorkers
        }
        func sum() -> Int {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: 3)
            hits.initialize(repeating: 0, count: 3)
            defer { hits.deallocate() }
            pool.parallelFor(3) { range in for i in range { hits[i] += i + 1 } }
            return hits[0] + hits[1] + hits[2]
        }
        XCTAssertEqual(sum(), 6)
        XCTAssertEqual(asleep(), 2)
        pool.keepingWorkersAwake {
            XCTAssertEqual(sum(), 6)  // wakes the sleepers
            settle()
            XCTAssertEqual(pool.sleepingWorkers, 0)
            pool.keepingWorkersAwake { XCTAssertEqual(sum(), 6) }
            settle()
            XCTAssertEqual(pool.sleepingWorkers, 0)
        }
        XCTAssertEqual(sum(), 6)
        XCTAssertEqual(asleep(), 2)
    }
}
