import NextGPTKernels
import NextGPTLayers
import NextGPTTestSupport
import XCTest

/// The activation arena hands a freed block to the next tensor that fits it, zeroes it only for
/// tensors that must start at zero, never holds more than its peak of live blocks, and unmaps
/// what comes back after it is closed.
final class ActivationArenaTests: XCTestCase {
    static let kib = 1 << 10

    private func context(minimumBytes: Int = 64 << 10, poison: Bool = false) -> ExecutionContext {
        var context = ExecutionContext.default
        context.activationArenaMinimumBytes = minimumBytes
        context.poisonsActivations = poison
        return context
    }

    private func address(_ t: Tensor) -> UnsafePointer<Float>? { t.withUnsafeBufferPointer { $0.baseAddress } }

    func testFreedBlockIsReusedAndZeroedOnlyWhenAsked() {
        context(poison: true).withActivationArena("test") {
            let arena = ActivationArena.current!
            let freshZeros = Tensor(zeros: [64 * Self.kib + 5])
            XCTAssertTrue(freshZeros.values.allSatisfy { $0 == 0 }, "a fresh block for Tensor(zeros:) was poisoned")
            var first: Tensor? = Tensor(shape: [64 * Self.kib]) { out in
                XCTAssertTrue(out.allSatisfy { $0.isNaN }, "a fresh block for a filled tensor was not poisoned")
                out.update(repeating: 7)
            }
            let firstAddress = first.map(address)
            first = nil
            let zeros = Tensor(zeros: [64 * Self.kib - 5])
            XCTAssertEqual(address(zeros), firstAddress, "the freed block was not reused")
            XCTAssertTrue(zeros.values.allSatisfy { $0 == 0 }, "a reused block was not zeroed for Tensor(zeros:)")
            _ = consume zeros
            // `fill` writes every element itself: the block comes poisoned, not zeroed.
            let seen = Tensor(shape: [64 * Self.kib]) { out in
                XCTAssertTrue(out.allSatisfy { $0.isNaN }, "reused memory for a filled tensor was not poisoned")
                out.update(repeating: 3)
            }
            XCTAssertEqual(address(seen), firstAddress)
            XCTAssertEqual(seen.values[64 * Self.kib - 1], 3)
            let s = arena.statistics
            XCTAssertEqual([s.mapped, s.reused], [2, 2])
            withExtendedLifetime(freshZeros) {}
        }
    }

    /// A block is reused only for a tensor of its size in 4 KiB pages.
    func testBlocksReusedOnlyForTensorsOfTheirSize() {
        context().withActivationArena("test") {
            let arena = ActivationArena.current!
            var eight: [Tensor] = (0..<8).map { _ in Tensor(zeros: [32 * Self.kib]) }   // 8 × 128 KiB
            eight.removeAll()
            let smaller = Tensor(zeros: [31 * Self.kib])   // 124 KiB
            let larger = Tensor(zeros: [33 * Self.kib])    // 132 KiB
            XCTAssertEqual(arena.statistics.reused, 0)
            let samePages = Tensor(zeros: [32 * Self.kib - 1000])   // 124 KiB + 96 B: 32 pages
            XCTAssertEqual(arena.statistics.reused, 1)
            withExtendedLifetime((smaller, larger, samePages)) {}
        }
    }

    /// Live and free blocks together stay within the largest sum of live blocks seen.
    func testHeldMemoryStaysWithinThePeakOfLiveBlocks() {
        context().withActivationArena("test") {
            let arena = ActivationArena.current!
            let block = 256 * Self.kib   // bytes of a tensor of 64 Ki floats
            var four: [Tensor] = (0..<4).map { i in Tensor(shape: [64 * Self.kib]) { $0.update(repeating: Float(i)) } }
            XCTAssertEqual(arena.statistics.peakLiveBytes, 4 * block)
            four.removeAll()
            XCTAssertEqual(arena.statistics.heldBytes, 4 * block, "freed blocks are kept for reuse")
            // Three blocks' worth that none of the free ones fits: room is made by unmapping.
            let wide = Tensor(zeros: [3 * 64 * Self.kib])
            var s = arena.statistics
            XCTAssertLessThanOrEqual(s.heldBytes, 4 * block, "held \(s.heldBytes) B, peak \(s.peakLiveBytes) B")
            XCTAssertEqual(s.unmapped, 3)
            XCTAssertEqual(s.peakLiveBytes, 4 * block)
            // The one free block left is reused.
            let again = Tensor(shape: [64 * Self.kib]) { $0.update(repeating: 9) }
            s = arena.statistics
            XCTAssertEqual(s.reused, 1)
            XCTAssertEqual(s.heldBytes, 4 * block)
            withExtendedLifetime((wide, again)) {}
        }
    }

    /// A pass that goes deep and comes back (a UNet: large planes, then small ones while the large
    /// are free, then large again): kept to its live peak, the arena unmaps the large blocks to make
    /// the small ones and maps them again on every pass; repeating passes keep the exact-size plan
    /// and map nothing after the first.
    func testRepeatedPassesMapNothingAfterTheFirst() {
        let block = 256 * Self.kib
        func pass() {
            var large: [Tensor] = (0..<2).map { _ in Tensor(shape: [64 * Self.kib]) { $0.update(repeating: 1) } }
            large.removeAll()
            var small: [Tensor] = (0..<3).map { _ in Tensor(shape: [32 * Self.kib]) { $0.update(repeating: 2) } }
            small.removeAll()
            let again = (0..<2).map { _ in Tensor(shape: [64 * Self.kib]) { $0.update(repeating: 3) } }
            withExtendedLifetime(again) {}
        }
        for repeating in [false, true] {
            context().withActivationArena("test", repeatingPasses: repeating) {
                let arena = ActivationArena.current!
                pass()
                let first = arena.statistics
                XCTAssertEqual(first.peakLiveBytes, 2 * block)
                XCTAssertEqual(first.exactPlanBytes, 2 * block + 3 * block / 2)
                for _ in 0..<3 { pass() }
                let s = arena.statistics
                XCTAssertLessThanOrEqual(s.heldBytes, (repeating ? 2 : 1) * s.peakLiveBytes, "repeating \(repeating)")
                if repeating {
                    XCTAssertEqual(s.mapped, first.mapped, "a repeated pass mapped \(s.mapped - first.mapped) blocks")
                    XCTAssertEqual(s.heldBytes, first.exactPlanBytes)
                } else {
                    XCTAssertGreaterThan(s.mapped, first.mapped, "the single-pass arena kept more than its peak")
                }
            }
        }
    }

    /// A repeating pass whose exact-size plan is more than twice its live peak (SD 1.5's 512² loop:
    /// peak 170 MiB, plan 372) keeps the whole plan, being within its extra bytes, and maps nothing
    /// after the first pass.
    func testRepeatedPassesKeepAPlanOfMoreThanTwiceThePeak() {
        let arena = ActivationArena(minimumBytes: 64 << 10, repeatsPasses: true)
        ActivationArena.$current.withValue(arena) {
            func pass() {
                var large: [Tensor] = (0..<2).map { _ in Tensor(shape: [64 * Self.kib]) { $0.update(repeating: 1) } }
                large.removeAll()
                for floats in [48 * Self.kib, 40 * Self.kib, 36 * Self.kib] {
                    var small: [Tensor] = (0..<2).map { _ in Tensor(shape: [floats]) { $0.update(repeating: 2) } }
                    small.removeAll()
                }
            }
            pass()
            let first = arena.statistics
            XCTAssertEqual([first.peakLiveBytes, first.exactPlanBytes], [512 * Self.kib, 2 * (256 + 192 + 160 + 144) * Self.kib])
            for _ in 0..<3 { pass() }
            let s = arena.statistics
            XCTAssertEqual(s.mapped, first.mapped, "a repeated pass mapped \(s.mapped - first.mapped) blocks")
            XCTAssertEqual(s.heldBytes, first.exactPlanBytes)
        }
    }

    /// Kernels' scratch takes blocks of its own: the smallest free one that fits, else a fresh one
    /// in place of the largest free one too small; as many as calls nest, none counted in the
    /// activations' plan, all unmapped when the arena closes.
    func testScratchTakesTheSmallestFreeBlockThatFits() {
        var held: ActivationArena?
        context(poison: true).withActivationArena("test", repeatingPasses: true) {
            let arena = ActivationArena.current!
            held = arena
            func scratch(_ floats: Int, inside: () -> Void = {}) -> UnsafeMutablePointer<Float> {
                Tensor.withScratch(floats) { p in
                    XCTAssertTrue(p[0].isNaN && p[floats - 1].isNaN, "scratch of \(floats) floats was not poisoned")
                    p.update(repeating: 1, count: floats)
                    inside()
                    return p
                }
            }
            var inner: UnsafeMutablePointer<Float>?
            let outer = scratch(96 * Self.kib) { inner = scratch(32 * Self.kib) }
            XCTAssertEqual([arena.statistics.scratchMapped, arena.statistics.scratchBytes], [2, 128 * Self.kib * 4])
            XCTAssertEqual(scratch(64 * Self.kib), outer)
            XCTAssertEqual(scratch(32 * Self.kib) { XCTAssertEqual(scratch(90 * Self.kib), outer) }, inner)
            // The larger block was given back first and heads the free list.
            XCTAssertEqual(scratch(20 * Self.kib), inner, "not the smallest free block that fits")
            // Larger than both: replaces the 96K block, and the two then serve the same nesting again.
            _ = scratch(128 * Self.kib)
            XCTAssertEqual([arena.statistics.scratchMapped, arena.statistics.scratchBytes], [3, 160 * Self.kib * 4])
            _ = scratch(128 * Self.kib) { _ = scratch(32 * Self.kib) }
            let s = arena.statistics
            XCTAssertEqual([s.scratchMapped, s.mapped, s.exactPlanBytes], [3, 0, 0])
            XCTAssertEqual(s.peakLiveBytes, 160 * Self.kib * 4, "scratch held by calls counts as live")
        }
        XCTAssertEqual(held?.statistics.scratchBytes, 0, "scratch blocks outlived the arena")
    }

    /// A free scratch block makes room for a new peak as a free block does, so a single pass holds
    /// no more than its peak, scratch included.
    func testFreeScratchMakesRoomForANewPeak() {
        context().withActivationArena("test") {
            let arena = ActivationArena.current!
            Tensor.withScratch(96 * Self.kib) { $0.update(repeating: 1, count: 96 * Self.kib) }
            XCTAssertEqual(arena.statistics.scratchBytes, 96 * Self.kib * 4)
            let large = Tensor(shape: [128 * Self.kib]) { $0.update(repeating: 2) }
            let s = arena.statistics
            XCTAssertEqual([s.scratchBytes, s.heldBytes, s.peakLiveBytes], [0, 128 * Self.kib * 4, 128 * Self.kib * 4])
            withExtendedLifetime(large) {}
        }
    }

    /// A repeating run keeps no more than `repeatedPassesExtraBytes` above its live peak, even
    /// where the exact-size plan asks for more.
    func testRepeatedPassesKeepAtMostTheirExtraAboveThePeak() {
        let block = 256 * Self.kib
        let arena = ActivationArena(minimumBytes: 64 << 10, repeatsPasses: true, repeatedPassesExtraBytes: block)
        ActivationArena.$current.withValue(arena) {
            for _ in 0..<3 {
                var large: [Tensor] = (0..<2).map { _ in Tensor(shape: [64 * Self.kib]) { $0.update(repeating: 1) } }
                large.removeAll()
                var small: [Tensor] = (0..<3).map { _ in Tensor(shape: [32 * Self.kib]) { $0.update(repeating: 2) } }
                small.removeAll()
                XCTAssertLessThanOrEqual(arena.statistics.heldBytes, 2 * block + block)
            }
        }
        let s = arena.statistics
        XCTAssertEqual([s.peakLiveBytes, s.exactPlanBytes], [2 * block, 2 * block + 3 * block / 2])
        XCTAssertGreaterThan(s.unmapped, 0, "the plan was kept whole past the bound")
    }

    /// Tensors that outlive the run keep their values; their blocks are unmapped when they go,
    /// and the resident set falls back.
    func testTensorsOutlivingTheArenaKeepTheirValuesAndAreUnmapped() {
        let mib = 1 << 20
        var arena: ActivationArena?
        let start = MemoryReport.current().anonymousBytes
        var kept: Tensor? = context(minimumBytes: mib).withActivationArena("test") {
            arena = ActivationArena.current
            var scratch: [Tensor] = (0..<16).map { i in Tensor(shape: [mib]) { $0.update(repeating: Float(i)) } }
            scratch.removeAll()
            return Tensor(shape: [mib]) { $0.update(repeating: 5) }   // reuses a freed block
        }
        XCTAssertNil(ActivationArena.current, "the arena outlived its run")
        XCTAssertEqual(kept?.values.allSatisfy { $0 == 5 }, true)
        let s = arena!.statistics
        XCTAssertEqual(s.reused, 1)
        XCTAssertEqual(s.heldBytes, 4 * mib, "only the kept tensor's block is held after the close")
        kept = nil
        XCTAssertEqual(arena!.statistics.heldBytes, 0)
        let after = MemoryReport.current().anonymousBytes
        XCTAssertLessThan(after - start, 24 * mib, "RSS \(after - start) B above the start after the run's 68 MiB went")
    }

    /// A loop's steps share the loop's arena: a model's own `withActivationArena` inside it runs
    /// in the loop's, so the second step maps nothing.
    func testNestedRunsShareTheOuterArena() {
        let context = context()
        context.withActivationArena("loop") {
            let outer = ActivationArena.current
            for _ in 0..<3 {
                context.withActivationArena("model") {
                    XCTAssertTrue(ActivationArena.current === outer)
                    let a = Tensor(shape: [64 * Self.kib]) { $0.update(repeating: 1) }
                    let b = Tensor(shape: [128 * Self.kib]) { $0.update(repeating: 2) }
                    withExtendedLifetime((a, b)) {}
                }
            }
            XCTAssertEqual([outer!.statistics.mapped, outer!.statistics.reused], [2, 4])
        }
    }

    /// Without a minimum, no arena: storage is the tensor's own.
    func testNoArenaWithoutAMinimum() {
        var context = ExecutionContext.default
        context.activationArenaMinimumBytes = nil
        context.withActivationArena("test") { XCTAssertNil(ActivationArena.current) }
    }
}
