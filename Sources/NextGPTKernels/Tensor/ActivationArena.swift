import Glibc
import Synchronization

/// The memory of one model run's large activations, recycled from layer to layer and step to step.
///
/// Inside `ExecutionContext.withActivationArena`, every tensor of at least `minimumBytes` takes
/// a block from the arena and gives it back when it goes. A block is reused for a later tensor
/// of its size (in whole pages), so a loop that runs one UNet many times maps and faults its
/// activations in on the first step only. Mapping and unmapping a fresh plane per
/// call cost a Zen 1's 512² SD step 8 % (kernel zeroing, huge-page faults, munmap).
///
/// The first step is the plan: the arena learns the largest sum of activations alive at once
/// (`Statistics.peakLiveBytes`), and a single pass never holds more than that, live and free
/// together. A new block that would pass it unmaps free blocks first, oldest first; so a pass
/// with the arena keeps the resident set of the same pass without it. A run that repeats one
/// pass (`repeatsPasses`) keeps free blocks up to the exact-size plan instead, so that its
/// later passes find every size they ask for, and no more than `repeatedPassesExtraBytes` above
/// its live peak. (While the bound was also twice the live peak, SD 1.5's 512² loop, with a peak
/// of 170 MiB and a plan of 372, mapped 9 blocks again on every evaluation.)
///
/// Kernels' scratch (`Tensor.withScratch`) lives only for one call, in sizes that vary from call
/// to call (a Winograd convolution's transformed tiles and products). It takes its own blocks,
/// outside the exact-size plan: each call takes the smallest free one that fits, and a call
/// none fits replaces the largest free one that is too small. So as many blocks as calls nest
/// are kept, each as large as the largest scratch asked of it. Taken as activations of exact
/// sizes, the scratch of a 512² SD loop lifted the plan from 372 to 535 MiB. A scratch block
/// counts as live while a call holds it; free, it makes room for a new peak as free blocks do.
///
/// Blocks given back after the arena is closed (tensors that outlive the run) are unmapped.
public final class ActivationArena: Sendable {
    /// The arena tensor storage takes blocks from on this thread or task; bound by
    /// `ExecutionContext.withActivationArena`, nil outside it.
    @TaskLocal public static var current: ActivationArena?

    public struct Statistics: Sendable, Equatable {
        /// Blocks mapped for a tensor no free block fitted.
        public var mapped = 0
        /// Tensors given a free block.
        public var reused = 0
        /// Free blocks unmapped to stay within the peak, or at close.
        public var unmapped = 0
        /// The largest sum of block sizes held by live tensors and scratch calls at once.
        public var peakLiveBytes = 0
        /// Block bytes held now, live and free, scratch blocks included.
        public var heldBytes = 0
        /// Σ block size × the most blocks of that size live at once: what reusing blocks of the
        /// same size needs so that a repeated pass maps nothing.
        public var exactPlanBytes = 0
        /// Scratch blocks mapped (a call no free scratch block fitted).
        public var scratchMapped = 0
        /// Scratch block bytes held now, in use and free.
        public var scratchBytes = 0
    }

    /// The smallest tensor (bytes) the arena serves; smaller ones stay on the heap.
    public let minimumBytes: Int
    /// Whether memory a tensor need not find zeroed (reused or fresh) is filled with NaN first, so
    /// a kernel that reads its output before writing all of it, or leaves part unwritten, shows (tests).
    public let poisonsMemory: Bool
    /// Whether the run repeats one pass (a denoising loop's UNet calls): free blocks are then kept
    /// up to the exact-size plan (`Statistics.exactPlanBytes`; at most `repeatedPassesExtraBytes`
    /// above the live peak), so the passes after the first map nothing. A single pass keeps no
    /// more than its live peak.
    public let repeatsPasses: Bool
    /// The most a repeating run keeps above its live peak: by default 512 MiB, enough for SD 1.5's
    /// 512² loop (peak 170 MiB, plan 372), a bound for loops whose peak is gigabytes (ZeroScope).
    public let repeatedPassesExtraBytes: Int

    private struct Block {
        let address: Int
        let capacity: Int
    }

    private struct State {
        var free: [Block] = []
        var liveBytes = 0
        var freeBytes = 0
        /// Blocks live now and at most so far, per block size.
        var liveBlocks: [Int: Int] = [:]
        var mostLiveBlocks: [Int: Int] = [:]
        /// Σ size × most live blocks of that size: what exact-size reuse needs to map nothing more.
        var exactPlanBytes = 0
        var closed = false
        var statistics = Statistics()
        /// Scratch blocks no call holds now, and the bytes of all scratch blocks (held and free).
        var freeScratch: [Block] = []
        var scratchBytes = 0
        var freeScratchBytes: Int { freeScratch.reduce(0) { $0 + $1.capacity } }  // a block per nesting level
    }

    private let state = Mutex(State())

    public init(minimumBytes: Int, repeatsPasses: Bool = false, repeatedPassesExtraBytes: Int = 512 << 20,
                poisonsMemory: Bool = false) {
        self.minimumBytes = minimumBytes
        self.repeatsPasses = repeatsPasses
        self.repeatedPassesExtraBytes = repeatedPassesExtraBytes
        self.poisonsMemory = poisonsMemory
    }

    deinit { close() }

    public var statistics: Statistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.heldBytes = state.liveBytes + state.freeBytes + state.freeScratchBytes
            statistics.exactPlanBytes = state.exactPlanBytes
            statistics.scratchBytes = state.scratchBytes
            return statistics
        }
    }

    /// Counts a new block of `capacity` bytes as live, after taking out of `state` the free blocks
    /// (the caller unmaps them) that would pass what the arena keeps: the peak so far (a repeating
    /// run: the exact-size plan and its scratch blocks, within the bounds), or this block's own
    /// new peak. Free activation blocks go first, oldest first, then free scratch blocks. Keeping
    /// only the live peak, the UNet's 64² blocks were unmapped at 16² and faulted back in on every
    /// step: 241 blocks mapped in 3 evaluations of a 512² SD loop, against 55 with the plan (Zen 3, 2 threads).
    private static func makeRoom(for capacity: Int, in state: inout State, repeatsPasses: Bool, extraBytes: Int) -> [Block] {
        let peak = state.statistics.peakLiveBytes
        let kept = repeatsPasses ? max(peak, min(state.exactPlanBytes + state.scratchBytes, peak + extraBytes)) : peak
        let limit = max(kept, state.liveBytes + capacity)
        var evicted: [Block] = []
        while state.liveBytes + state.freeBytes + state.freeScratchBytes + capacity > limit {
            if !state.free.isEmpty {
                let oldest = state.free.removeFirst()
                state.freeBytes -= oldest.capacity
                state.statistics.unmapped += 1
                evicted.append(oldest)
            } else if !state.freeScratch.isEmpty {
                let oldest = state.freeScratch.removeFirst()
                state.scratchBytes -= oldest.capacity
                evicted.append(oldest)
            } else {
                break
            }
        }
        state.liveBytes += capacity
        state.statistics.peakLiveBytes = max(state.statistics.peakLiveBytes, state.liveBytes)
        return evicted
    }

    /// A block of at least `byteCount` bytes, zero-filled when `zeroed`.
    func take(byteCount: Int, zeroed: Bool) -> HugePageMemory {
        let capacity = Self.capacity(for: byteCount)
        var evicted: [Block] = []
        let reused: Block? = state.withLock { state in
            let live = state.liveBlocks[capacity, default: 0] + 1
            state.liveBlocks[capacity] = live
            if live > state.mostLiveBlocks[capacity, default: 0] {
                state.mostLiveBlocks[capacity] = live
                state.exactPlanBytes += capacity
            }
            // The most recently freed block of the same size (its pages may still be in cache).
            // Same size only: a tensor in a larger block holds pages it never uses, and kept
            // tensors (a loop's Winograd kernels) in such blocks lifted a 512² SD run's peak.
            let best = state.free.lastIndex { $0.capacity == capacity }
            if let best {
                let block = state.free.remove(at: best)
                state.freeBytes -= block.capacity
                state.liveBytes += block.capacity
                state.statistics.reused += 1
                return block
            }
            evicted = Self.makeRoom(for: capacity, in: &state, repeatsPasses: repeatsPasses, extraBytes: repeatedPassesExtraBytes)
            state.statistics.mapped += 1
            return nil
        }
        for block in evicted { Self.memory(block).release() }
        let memory = reused.map(Self.memory) ?? HugePageMemory(byteCount: capacity)  // a fresh one reads as zeros
        if zeroed, reused != nil {
            memset(memory.pointer, 0, byteCount)
        } else if !zeroed, poisonsMemory {
            // Fresh blocks too: which tensor gets a reused block depends on sizes and eviction,
            // and a check that only sometimes poisons would pass a kernel's unwritten tail.
            memory.pointer.initializeMemory(as: Float.self, repeating: .nan, count: byteCount / 4)
        }
        return memory
    }

    /// Takes back a block `take` gave.
    func giveBack(_ memory: HugePageMemory) {
        let block = Block(address: Int(bitPattern: memory.pointer), capacity: memory.byteCount)
        let closed = state.withLock { state in
            state.liveBytes -= block.capacity
            state.liveBlocks[block.capacity, default: 1] -= 1
            guard !state.closed else { return true }
            state.free.append(block)
            state.freeBytes += block.capacity
            return false
        }
        if closed { memory.release() }
    }

    /// `body` on a scratch block of at least `byteCount` bytes (see the type's note), whose
    /// contents are whatever an earlier call left (NaN when the arena poisons memory). While a call
    /// holds it, the block counts as live.
    package func withScratch<R>(byteCount: Int, _ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        let capacity = Self.capacity(for: byteCount)
        var evicted: [Block] = []
        let fitting: Block? = state.withLock { state in
            var best: Int?
            for (i, block) in state.freeScratch.enumerated() where block.capacity >= capacity {
                if let b = best, state.freeScratch[b].capacity <= block.capacity { continue }
                best = i
            }
            if let best {
                let block = state.freeScratch.remove(at: best)
                state.liveBytes += block.capacity
                state.statistics.peakLiveBytes = max(state.statistics.peakLiveBytes, state.liveBytes)
                return block
            }
            if let largest = state.freeScratch.indices.max(by: { state.freeScratch[$0].capacity < state.freeScratch[$1].capacity }) {
                let replaced = state.freeScratch.remove(at: largest)
                state.scratchBytes -= replaced.capacity
                evicted.append(replaced)
            }
            state.scratchBytes += capacity  // before making room: a repeating run keeps it
            evicted += Self.makeRoom(for: capacity, in: &state, repeatsPasses: repeatsPasses, extraBytes: repeatedPassesExtraBytes)
            state.statistics.scratchMapped += 1
            return nil
        }
        for block in evicted { Self.memory(block).release() }
        let memory = fitting.map(Self.memory) ?? HugePageMemory(byteCount: capacity)
        defer {
            let closed = state.withLock { state in
                state.liveBytes -= memory.byteCount
                guard !state.closed else {
                    state.scratchBytes -= memory.byteCount
                    return true
                }
                state.freeScratch.append(Block(address: Int(bitPattern: memory.pointer), capacity: memory.byteCount))
                return false
            }
            if closed { memory.release() }
        }
        if poisonsMemory { memory.pointer.initializeMemory(as: Float.self, repeating: .nan, count: byteCount / 4) }
        return try body(memory.pointer)
    }

    /// Unmaps the free blocks; blocks given back from now on are unmapped too.
    func close() {
        let (free, freeScratch) = state.withLock { state in
            state.closed = true
            defer {
                state.statistics.unmapped += state.free.count
                state.free = []
                state.freeBytes = 0
                state.scratchBytes -= state.freeScratchBytes
                state.freeScratch = []
            }
            return (state.free, state.freeScratch)
        }
        for block in free + freeScratch { Self.memory(block).release() }
    }

    /// Sizes rounded up to whole 4 KiB pages. Not to 2 MiB: a huge page is then allocated for
    /// the tail the tensor never touches, which lifted a 512² SD run's peak by 50–100 MB.
    private static func capacity(for byteCount: Int) -> Int {
        (max(byteCount, 1) + 4095) / 4096 * 4096
    }

    private static func memory(_ block: Block) -> HugePageMemory {
        HugePageMemory(adopting: UnsafeMutableRawPointer(bitPattern: block.address)!, byteCount: block.capacity)
    }
}

extension ExecutionContext {
    /// `body()` with its tensors of at least `activationArenaMinimumBytes` taken from a fresh
    /// `ActivationArena`, closed when `body` returns: for one model run (a forward pass, a
    /// denoising loop, a decode; `repeatingPasses` for a loop of the same pass, see
    /// `ActivationArena.repeatsPasses`). Inside another arena's run (a loop's UNet call), `body()` runs
    /// in that one, so the loop's steps share it. Without a minimum, `body()` alone. Under a
    /// profile, the statistics of an arena that served any tensor go into it as a note named `name`.
    public func withActivationArena<R>(_ name: String, repeatingPasses: Bool = false, _ body: () throws -> R) rethrows -> R {
        guard let minimumBytes = activationArenaMinimumBytes, ActivationArena.current == nil else { return try body() }
        let arena = ActivationArena(minimumBytes: minimumBytes, repeatsPasses: repeatingPasses, poisonsMemory: poisonsActivations)
        defer {
            arena.close()
            // Only arenas that served a tensor: LLaMA opens one per decoded token, whose small
            // activations stay on the heap, and the profile keeps every note.
            let s = arena.statistics
            if let profile, s.mapped + s.reused > 0 {
                profile.note("\(name) activations: peak \(s.peakLiveBytes >> 20) MiB live (exact plan \(s.exactPlanBytes >> 20) MiB), \(s.mapped) blocks mapped, "
                             + "\(s.reused) reused, \(s.unmapped) unmapped; scratch \(s.scratchMapped) blocks mapped")
            }
        }
        return try ActivationArena.$current.withValue(arena, operation: body)
    }
}
