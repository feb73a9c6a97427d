import CNextGPTKernels
import COpenBLAS
import Crypto
import Dispatch
import Foundation
import NextGPTCore
import NextGPTFormats

public struct ConversionOptions: Sendable {
    public var policy: QuantizationPolicy
    public var alignment = 64
    /// sha256 of every source file for provenance (read alongside the conversion).
    public var hashSources = true
    public var name = "NExT-GPT"

    public init(policy: QuantizationPolicy) { self.policy = policy }
}

public struct ConversionProgress: Sendable {
    public var tensorIndex: Int
    public var tensorCount: Int
    public var tensorName: String
    public var bytesDone: Int
    public var bytesTotal: Int
    public var seconds: Double
}

public struct ConversionReport: Sendable {
    public var tensorCount = 0
    public var sourceBytes = 0
    public var outputBytes = 0
    public var seconds = 0.0
    public var peakResidentBytes: Int?
    public var tensorsByType: [GGMLType: Int] = [:]
    public var bytesByType: [GGMLType: Int] = [:]
}

/// Streams a plan into one GGUF container, tensor by tensor: read the source bytes, merge LoRA
/// updates in f32, encode to the policy's type, checksum, write. Peak memory stays near the
/// largest tensor. The file appears under its final name only when complete.
public enum Converter {
    public static let formatVersion: UInt32 = 1
    public static let checksumKey = "tensor_crc32c"

    struct PlannedTensor {
        let component: Int
        let tensor: ComponentTensor
        let containerName: String
        let decision: QuantizationPolicy.Decision
    }

    public static func convert(_ plan: ConversionPlan, options: ConversionOptions, to output: String,
                               progress: ((ConversionProgress) -> Void)? = nil) throws -> ConversionReport {
        let start = Date()
        var planned: [PlannedTensor] = []
        for (c, component) in plan.components.enumerated() {
            for tensor in component.tensors {
                let name = "\(component.name).\(tensor.name)"
                let decision = options.policy.decide(name: name, shape: tensor.source.shape, dtype: tensor.source.dtype)
                planned.append(PlannedTensor(component: c, tensor: tensor, containerName: name, decision: decision))
            }
        }

        let (metadata, patchable, sourceFiles) = buildMetadata(plan, planned: planned, options: options)
        let infos = planned.map { GGUFTensorInfo(name: $0.containerName, shape: $0.decision.storedShape, type: $0.decision.type) }
        let writer = try GGUFWriter(destination: output, alignment: options.alignment)
        try writer.begin(metadata: metadata, tensors: infos, patchable: patchable)

        // Provenance hashes are computed on another thread while the tensors stream.
        let hasher = SourceHasher(files: options.hashSources ? sourceFiles : [])
        hasher.start()

        var report = ConversionReport()
        let total = planned.reduce(0) { $0 + $1.tensor.source.byteCount }
        var done = 0
        var checksums = [[UInt32]](repeating: [], count: plan.components.count)
        let prefetcher = Prefetcher(planned.map { $0.tensor.source })
        for (i, item) in planned.enumerated() {
            progress?(ConversionProgress(tensorIndex: i, tensorCount: planned.count, tensorName: item.containerName,
                                         bytesDone: done, bytesTotal: total, seconds: Date().timeIntervalSince(start)))
            let sourceBytes = try prefetcher.take(i)
            let bytes = try encode(item, sourceBytes: sourceBytes)
            let crc = bytes.withUnsafeBytes { ngk_crc32c_update(0, $0.baseAddress, $0.count) }
            checksums[item.component].append(crc)
            try writer.write(bytes)
            done += item.tensor.source.byteCount
            report.tensorsByType[item.decision.type, default: 0] += 1
            report.bytesByType[item.decision.type, default: 0] += bytes.count
            report.outputBytes += bytes.count
        }
        progress?(ConversionProgress(tensorIndex: planned.count, tensorCount: planned.count, tensorName: "",
                                     bytesDone: total, bytesTotal: total, seconds: Date().timeIntervalSince(start)))

        for (c, component) in plan.components.enumerated() {
            try writer.patch(component.key(checksumKey), with: .uint32s(checksums[c]))
        }
        let hashes = try hasher.finish()
        if options.hashSources {
            for component in plan.components {
                try writer.patch(component.key("source.sha256"), with: .strings(component.sourceFiles.map { hashes[$0] ?? "" }))
            }
        }
        try writer.commit()
        report.tensorCount = planned.count
        report.sourceBytes = total
        report.seconds = Date().timeIntervalSince(start)
        report.peakResidentBytes = System.peakResidentBytes()
        return report
    }

    /// Encodes one tensor: a plain copy when the type and bytes are unchanged, otherwise f32
    /// values (with LoRA merged) encoded to the decided type.
    static func encode(_ item: PlannedTensor, sourceBytes: [UInt8]) throws -> [UInt8] {
        let source = item.tensor.source
        let type = item.decision.type
        if item.tensor.lora.isEmpty, let lossless = GGMLType(lossless: source.dtype), lossless == type {
            return sourceBytes
        }
        if !source.dtype.isFloatingPoint {
            // u8 / bool have no GGUF type of their own; they are stored as i8 with the same bytes.
            return sourceBytes
        }
        var values = SourceTensor.floats(from: sourceBytes, dtype: source.dtype)
        for pair in item.tensor.lora { try merge(pair, into: &values, shape: source.shape) }
        return TensorEncoding.encode(values, as: type)
    }

    /// W += scale · B·A, in f32 (B: [out, r], A: [r, in]).
    static func merge(_ pair: LoraPair, into weight: inout [Float], shape: [Int]) throws {
        let a = try pair.a.readFloats(), b = try pair.b.readFloats()
        let rank = pair.a.shape[0], columns = pair.a.shape[1], rows = pair.b.shape[0]
        precondition(rows * columns == weight.count)
        weight.withUnsafeMutableBufferPointer { w in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(columns), Int32(rank),
                        pair.scale, b, Int32(rank), a, Int32(columns), 1, w.baseAddress, Int32(columns))
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

/// Reads the next tensor's bytes on a background queue while the current one is encoded,
/// so disk reads and quantization overlap. At most one tensor is read ahead.
final class Prefetcher: @unchecked Sendable {
    private let tensors: [SourceTensor]
    private let queue = DispatchQueue(label: "nextgpt.prefetch")
    private var pending: (index: Int, group: DispatchGroup, result: Result<[UInt8], Error>?)?
    private let lock = NSLock()

    init(_ tensors: [SourceTensor]) { self.tensors = tensors }

    func take(_ index: Int) throws -> [UInt8] {
        let bytes: [UInt8]
        if let p = pending, p.index == index {
            p.group.wait()
            bytes = try lock.withLock { pending!.result! }.get()
        } else {
            bytes = try tensors[index].readBytes()
        }
        pending = nil
        if index + 1 < tensors.count { startReading(index + 1) }
        return bytes
    }

    private func startReading(_ index: Int) {
        let group = DispatchGroup()
        pending = (index, group, nil)
        group.enter()
        queue.async { [self] in
            let result = Result { try tensors[index].readBytes() }
            lock.withLock { pending?.result = result }
            group.leave()
        }
    }
}

/// sha256 of source files on a background thread.
final class SourceHasher: @unchecked Sendable {
    private let files: [String]
    private let group = DispatchGroup()
    private var result: Result<[String: String], Error> = .success([:])

    init(files: [String]) { self.files = files }

    func start() {
        guard !files.isEmpty else { return }
        group.enter()
        DispatchQueue.global(qos: .utility).async { [self] in
            result = Result { try Dictionary(uniqueKeysWithValues: files.map { ($0, try SourceHasher.sha256(of: $0)) }) }
            group.leave()
        }
    }

    func finish() throws -> [String: String] {
        group.wait()
        return try result.get()
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
