import CNextGPTKernels
import COpenBLAS
import NextGPTKernels
import Crypto
import Dispatch
import Foundation
import NextGPTCore
import NextGPTFormats
import Synchronization

public struct ConversionOptions: Sendable {
    public var policy: QuantizationPolicy
    public var alignment = 64
    /// sha256 of every source file for provenance (read alongside the conversion).
    public var hashSources = true
    public var name = "NExT-GPT"
    /// Threads that encode (quantize) each tensor; the output is the same for every count.
    public var threads = TensorEncoding.defaultThreads

    public init(policy: QuantizationPolicy) { self.policy = policy }
}

public struct ConversionReport: Sendable {
    public var tensorCount = 0
    public var sourceBytes = 0
    public var outputBytes = 0
    public var seconds = 0.0
    public var peakResidentBytes: Int?
    public var tensorsByType: [GGMLType: Int] = [:]
    public var bytesByType: [GGMLType: Int] = [:]
    /// Where the wall time went, in seconds: waiting for source bytes, converting/quantizing,
    /// checksumming, writing, waiting for the provenance hashes, flushing to disk.
    public var phases: [(String, Double)] = []
}

/// Streams a plan into one GGUF container, tensor by tensor: read the source bytes, merge LoRA
/// updates in f32, encode to the policy's type, checksum, write. Peak memory stays near the
/// largest tensor. The file appears under its final name only when complete.
public enum Converter {
    public static let formatVersion: UInt32 = 2
    public static let checksumKey = "tensor_crc32c"

    struct PlannedTensor {
        let component: Int
        let tensor: ComponentTensor
        let containerName: String
        let decision: QuantizationPolicy.Decision
    }

    public static func convert(_ plan: ConversionPlan, options: ConversionOptions, to output: String,
                               progress: (any ProgressReporter)? = nil) throws -> ConversionReport {
        let start = Date()
        var planned: [PlannedTensor] = []
        for (c, component) in plan.components.enumerated() {
            for tensor in component.tensors {
                let name = "\(component.name).\(tensor.name)"
                let decision = options.policy.decide(name: name, shape: tensor.source.shape, dtype: tensor.source.dtype)
                planned.append(PlannedTensor(component: c, tensor: tensor, containerName: name, decision: decision))
            }
        }

        // LoRA slices are multiplied on the encoder's own threads; OpenBLAS must not add more.
        if planned.contains(where: { !$0.tensor.lora.isEmpty }) { openblas_set_num_threads(1) }

        let (metadata, patchable, sourceFiles) = buildMetadata(plan, planned: planned, options: options)
        let infos = planned.map { GGUFTensorInfo(name: $0.containerName, shape: $0.decision.storedShape, type: $0.decision.type) }
        let writer = try GGUFWriter(destination: output, alignment: options.alignment)
        try writer.begin(metadata: metadata, tensors: infos, patchable: patchable, headerChecksumKey: Container.headerChecksumKey)

        // Provenance hashes are computed on another thread while the tensors stream.
        let hasher = SourceHasher(files: options.hashSources ? sourceFiles : [])
        hasher.start()

        var report = ConversionReport()
        let total = planned.reduce(0) { $0 + $1.tensor.source.byteCount }
        var done = 0
        // Three stages overlap: the prefetcher reads tensor i+1, this thread converts tensor i, the
        // write-behind queue checksums and writes tensor i-1. Buffers are allocated once for the
        // largest tensor and reused: fresh multi-megabyte allocations per tensor cost a page fault
        // per 4 KiB, more than the quantization itself.
        let prefetcher = Prefetcher(planned.map { $0.tensor.source })
        let outputs = [ScratchBuffer(), ScratchBuffer()]
        let writeBehind = WriteBehind(writer: writer)
        var clock = PhaseClock()
        for (i, item) in planned.enumerated() {
            progress?.report(ProgressUpdate(phase: "converting", completed: i, total: planned.count, unit: "tensor",
                                            elapsedSeconds: Date().timeIntervalSince(start), item: item.containerName,
                                            bytesCompleted: done, bytesTotal: total))
            // Tensor i-2 used the output buffer and the source buffer that are about to be reused.
            try clock.time("write (wait)") { try writeBehind.wait(upTo: i - 2) }
            let sourceBytes = try clock.time("read (wait)") { try prefetcher.take(i) }
            let bytes = try clock.time("convert") { try encode(item, sourceBytes: sourceBytes, output: outputs[i % 2], threads: options.threads) }
            writeBehind.enqueue(index: i, component: item.component, bytes: bytes)
            done += item.tensor.source.byteCount
            report.tensorsByType[item.decision.type, default: 0] += 1
            report.bytesByType[item.decision.type, default: 0] += bytes.count
            report.outputBytes += bytes.count
        }
        // The queue still reads these buffers; ARC may end their lifetime at their last use above.
        try withExtendedLifetime((prefetcher, outputs)) {
            try clock.time("write (wait)") { try writeBehind.wait(upTo: planned.count - 1) }
        }
        progress?.report(ProgressUpdate(phase: "converting", completed: planned.count, total: planned.count, unit: "tensor",
                                        elapsedSeconds: Date().timeIntervalSince(start), bytesCompleted: total, bytesTotal: total))

        var checksums = [[UInt32]](repeating: [], count: plan.components.count)
        for (component, crc) in writeBehind.checksums { checksums[component].append(crc) }
        for (c, component) in plan.components.enumerated() {
            try writer.patch(component.key(checksumKey), with: .uint32s(checksums[c]))
        }
        let hashes = try clock.time("sha256 (wait)") { try hasher.finish() }
        if options.hashSources {
            for component in plan.components {
                try writer.patch(component.key("source.sha256"), with: .strings(component.sourceFiles.map { hashes[$0] ?? "" }))
            }
        }
        try clock.time("fsync+rename") { try writer.commit() }
        report.phases = clock.phases
        report.tensorCount = planned.count
        report.sourceBytes = total
        report.seconds = Date().timeIntervalSince(start)
        report.peakResidentBytes = System.peakResidentBytes()
        return report
    }

    /// Encodes one tensor: the source bytes as they are when the type is unchanged, otherwise f32
    /// values (with LoRA merged) encoded to the decided type in `output`. Rows are widened to f32 a
    /// slice at a time, so the f32 copy of a tensor never exists whole.
    static func encode(_ item: PlannedTensor, sourceBytes: UnsafeRawBufferPointer, output: ScratchBuffer,
                       threads: Int) throws -> UnsafeRawBufferPointer {
        let source = item.tensor.source
        let type = item.decision.type
        if item.tensor.lora.isEmpty, let lossless = GGMLType(lossless: source.dtype), lossless == type {
            return sourceBytes
        }
        if !source.dtype.isFloatingPoint {
            // u8 / bool have no GGUF type of their own; they are stored as i8 with the same bytes.
            return sourceBytes
        }
        let count = source.elementCount
        let out = output.bytes(type.byteCount(elements: count)!)
        let updates = try item.tensor.lora.map { LoraUpdate(pair: $0, a: try $0.a.readFloats(), b: try $0.b.readFloats()) }
        // LoRA updates whole rows; without them any whole number of blocks will do.
        let unit = updates.isEmpty ? type.blockSize : (source.shape.count >= 2 ? count / source.shape[0] : count)
        TensorEncoding.encodeInSlices(units: count / unit, unitLength: unit, type: type, into: out,
                                      threads: threads) { firstUnit, units, values in
            let first = firstUnit * unit
            let raw = UnsafeRawBufferPointer(rebasing: sourceBytes[(first * source.dtype.byteSize)..<((first + values.count) * source.dtype.byteSize)])
            SourceTensor.convertToFloats(raw, dtype: source.dtype, into: values)
            for update in updates { update.apply(rows: firstUnit..<(firstUnit + units), to: values) }
        }
        return UnsafeRawBufferPointer(out)
    }

    /// W += scale · B·A in f32 (B: [out, r], A: [r, in]), applied a slice of rows at a time.
    struct LoraUpdate {
        let pair: LoraPair
        let a: [Float]
        let b: [Float]

        func apply(rows: Range<Int>, to weight: UnsafeMutableBufferPointer<Float>) {
            let rank = pair.a.shape[0], columns = pair.a.shape[1]
            precondition(rows.count * columns == weight.count)
            b.withUnsafeBufferPointer { b in
                a.withUnsafeBufferPointer { a in
                    LowRank.add(scale: pair.scale, b: b.baseAddress! + rows.lowerBound * rank, a: a.baseAddress!, rank: rank,
                                      rows: rows.count, columns: columns, into: weight.baseAddress!)
                }
            }
        }
    }

    static func buildMetadata(_ plan: ConversionPlan, planned: [PlannedTensor], options: ConversionOptions)
        -> (metadata: [(String, GGUFValue)], patchable: Set<String>, sourceFiles: [String]) {
        var metadata: [(String, GGUFValue)] = [
            ("general.architecture", .string("nextgpt")),
            ("general.name", .string(options.name)),
            ("general.alignment", .uint32(UInt32(options.alignment))),
        ]
        if planned.contains(where: { $0.decision.type.isQuantized }) {
            metadata.append(("general.quantization_version", .uint32(2)))
        }
        metadata += [
            ("nextgpt.format_version", .uint32(formatVersion)),
            ("nextgpt.components", .strings(plan.components.map(\.name))),
            ("nextgpt.quantization.type", .string(options.policy.type.description)),
            ("nextgpt.quantization.rules", .strings(options.policy.rules.map(\.description))),
        ]
        var patchable = Set<String>()
        var allFiles: [String] = []
        for (c, component) in plan.components.enumerated() {
            metadata += component.metadata
            let files = component.sourceFiles
            for f in files where !allFiles.contains(f) { allFiles.append(f) }
            metadata.append((component.key("source.format"), .string(component.sourceFormat)))
            metadata.append((component.key("source.files"), .strings(files)))
            metadata.append((component.key("source.sizes"), .uint64s(files.map { UInt64(fileSize($0)) })))
            if options.hashSources {
                metadata.append((component.key("source.sha256"), .strings(files.map { _ in String(repeating: "0", count: 64) })))
                patchable.insert(component.key("source.sha256"))
            }
            let merged = component.tensors.flatMap(\.lora).map { "\($0.a.file.path)::\($0.target)*\($0.scale)" }
            if !merged.isEmpty { metadata.append((component.key("lora_merged"), .strings(merged))) }
            let count = planned.filter { $0.component == c }.count
            metadata.append((component.key(checksumKey), .uint32s([UInt32](repeating: 0, count: count))))
            patchable.insert(component.key(checksumKey))
        }
        metadata += plan.metadata
        for item in planned {
            if let original = item.decision.originalShape {
                metadata.append(("nextgpt.orig_shape.\(item.containerName)", .int64s(original.map { Int64($0) })))
            }
        }
        return (metadata, patchable, allFiles)
    }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }
}

/// Accumulates wall time per named phase, in first-seen order.
struct PhaseClock {
    private(set) var phases: [(String, Double)] = []

    mutating func time<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if let i = phases.firstIndex(where: { $0.0 == name }) { phases[i].1 += seconds } else { phases.append((name, seconds)) }
        }
        return try body()
    }
}

/// Reads the next tensor's bytes on a background queue while the current one is encoded, so disk
/// reads and quantization overlap. Three reusable buffers rotate: the one being read, the one being
/// converted, and the one the write-behind queue may still be writing. Not `Sendable`: it belongs
/// to the converting thread; the read queue sees only the target bytes and its `PendingRead`.
final class Prefetcher {
    private let tensors: [SourceTensor]
    private let queue = DispatchQueue(label: "nextgpt.prefetch")
    private let buffers = [ScratchBuffer(), ScratchBuffer(), ScratchBuffer()]
    private var pending: (index: Int, read: PendingRead)?

    /// One background read: done when `group` is left, its error behind a lock.
    private final class PendingRead: Sendable {
        let group = DispatchGroup()
        let failure = Mutex<(any Error)?>(nil)
    }

    init(_ tensors: [SourceTensor]) { self.tensors = tensors }

    /// The bytes of tensor `index`, valid until the next call.
    func take(_ index: Int) throws -> UnsafeRawBufferPointer {
        let buffer = buffers[index % 3]
        if let p = pending, p.index == index {
            p.read.group.wait()
            if let failure = p.read.failure.withLock({ $0 }) { throw failure }
        } else {
            try tensors[index].read(into: buffer.bytes(tensors[index].byteCount))
        }
        pending = nil
        if index + 1 < tensors.count { startReading(index + 1) }
        return UnsafeRawBufferPointer(buffer.bytes(tensors[index].byteCount))
    }

    private func startReading(_ index: Int) {
        let read = PendingRead()
        pending = (index, read)
        let tensor = tensors[index]
        // nonisolated(unsafe): the buffer is not touched again until `take(index)` has waited for this read.
        nonisolated(unsafe) let target = buffers[index % 3].bytes(tensor.byteCount)
        read.group.enter()
        queue.async {
            do { try tensor.read(into: target) } catch { read.failure.withLock { $0 = error } }
            read.group.leave()
        }
    }
}

/// Checksums and writes tensors in order on a serial queue, behind the conversion. Not `Sendable`:
/// it belongs to the converting thread; the queue sees only the writer and `Results`.
final class WriteBehind {
    private let writer: GGUFWriter
    private let queue = DispatchQueue(label: "nextgpt.write-behind")
    private var groups: [Int: DispatchGroup] = [:]
    private let results = Results()

    /// What the queue reports back: the first write error and (component, CRC-32C) in write order.
    private final class Results: Sendable {
        struct State {
            var failure: (any Error)?
            var checksums: [(Int, UInt32)] = []
        }
        let state = Mutex(State())
    }

    init(writer: GGUFWriter) { self.writer = writer }

    /// (component, CRC-32C) in write order, of the tensors written so far.
    var checksums: [(Int, UInt32)] { results.state.withLock { $0.checksums } }

    /// `bytes` must stay untouched until `wait(upTo:)` has returned for `index`.
    func enqueue(index: Int, component: Int, bytes: UnsafeRawBufferPointer) {
        let group = DispatchGroup()
        groups[index] = group
        // nonisolated(unsafe): the caller keeps the bytes untouched until `wait(upTo:)` has returned
        // for this index, and the converting thread uses the writer again only after the last wait.
        nonisolated(unsafe) let bytes = bytes
        nonisolated(unsafe) let writer = writer
        let results = results
        group.enter()
        queue.async {
            defer { group.leave() }
            if results.state.withLock({ $0.failure != nil }) { return }
            let crc = ngk_crc32c_update(0, bytes.baseAddress, bytes.count)
            do {
                try writer.write(bytes)
                results.state.withLock { $0.checksums.append((component, crc)) }
            } catch {
                results.state.withLock { $0.failure = error }
            }
        }
    }

    /// Waits until every tensor up to `index` is written; rethrows the first write error.
    func wait(upTo index: Int) throws {
        for i in groups.keys.sorted() where i <= index {
            groups.removeValue(forKey: i)?.wait()
        }
        if let failure = results.state.withLock({ $0.failure }) { throw failure }
    }
}

/// A growable raw buffer reused across tensors (16-byte aligned, never shrinks). Not `Sendable`:
/// owned by the converting thread, which lends its bytes to one queue at a time.
final class ScratchBuffer {
    private var pointer: UnsafeMutableRawPointer?
    private var capacity = 0

    deinit { pointer?.deallocate() }

    func bytes(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if count > capacity {
            pointer?.deallocate()
            pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
            capacity = count
        }
        return UnsafeMutableRawBufferPointer(start: pointer, count: count)
    }

    func floats(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        bytes(count * 4).bindMemory(to: Float.self)
    }
}

/// sha256 of source files on a background thread.
final class SourceHasher: Sendable {
    private let files: [String]
    private let group = DispatchGroup()
    private let result = Mutex<Result<[String: String], any Error>>(.success([:]))

    init(files: [String]) { self.files = files }

    func start() {
        guard !files.isEmpty else { return }
        group.enter()
        DispatchQueue.global(qos: .utility).async { [self] in
            let hashes = Result { try Dictionary(uniqueKeysWithValues: files.map { ($0, try SourceHasher.sha256(of: $0)) }) }
            result.withLock { $0 = hashes }
            group.leave()
        }
    }

    func finish() throws -> [String: String] {
        group.wait()
        return try result.withLock { $0 }.get()
    }

    static func sha256(of path: String) throws -> String {
        let file = try RandomAccessFile(path: path)
        var hasher = SHA256()
        let chunk = 8 << 20
        var buffer = [UInt8](repeating: 0, count: chunk)
        var offset = 0
        while offset < file.size {
            let n = min(chunk, file.size - offset)
            try buffer.withUnsafeMutableBytes { try file.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at: offset) }
            buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            offset += n
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
