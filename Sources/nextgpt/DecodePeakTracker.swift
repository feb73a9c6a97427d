#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NextGPTCore
import Synchronization

/// The peak resident memory of the VAE decode, apart from the run's: from the decoding phase's
/// start (the loop and its kept Winograd kernels gone) a thread reads the resident set every
/// 5 ms until the command asks. Sampling leaves the kernel's peak mark (VmHWM, what
/// `/usr/bin/time` reports) as it is; a decode's activations live for milliseconds at least,
/// and the sampled peak of a 512² decode matched VmHWM to 0.1 MB.
final class DecodePeakTracker: ProgressReporter {
    private let forward: any ProgressReporter
    private let sampler = ResidentSampler()
    private var started = false

    init(forwarding forward: any ProgressReporter) { self.forward = forward }

    /// Steps go on to the bar; the decode's start only starts the sampler (the closing line times it).
    func report(_ update: ProgressUpdate) {
        guard update.phase == "decoding" else { return forward.report(update) }
        if update.completed == 0 && !started {
            started = true
            sampler.start()
        }
    }

    var isCancelled: Bool { forward.isCancelled }

    /// The decode's peak resident bytes; nil when the decode never began.
    func decodePeakBytes() -> Int? { started ? sampler.stop() : nil }
}

/// Resident bytes of this process, read from /proc/self/statm by a thread of its own: one short
/// line, where `MemoryReport.current()` parses all of /proc/self/status, too much to repeat every
/// 5 ms beside a decode on two cores.
final class ResidentSampler: Sendable {
    private let peak = Atomic<Int>(0)
    private let running = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(true)

    func start() {
        running.store(true, ordering: .sequentiallyConsistent)
        finished.store(false, ordering: .sequentiallyConsistent)
        peak.store(Self.residentBytes(), ordering: .relaxed)
        Thread.detachNewThread { [self] in
            while running.load(ordering: .sequentiallyConsistent) {
                peak.max(Self.residentBytes(), ordering: .relaxed)
                usleep(5000)
            }
            finished.store(true, ordering: .sequentiallyConsistent)
        }
    }

    /// Stops the thread and returns the largest resident set it saw (and the one now).
    func stop() -> Int {
        running.store(false, ordering: .sequentiallyConsistent)
        while !finished.load(ordering: .sequentiallyConsistent) { usleep(1000) }
        peak.max(Self.residentBytes(), ordering: .relaxed)
        return peak.load(ordering: .relaxed)
    }

    static func residentBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 127) }
        guard count > 0 else { return 0 }
        // "size resident shared ...", in pages
        let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
