import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels

/// An opened container: metadata parsed once, the file mapped read-only and shared; every weight
/// is a zero-copy view into the mapping. Components are touched on demand and can be released.
public final class ModelFile: Sendable {
    public let container: Container
    public let mapping: MappedFile

    public init(path: String) throws {
        container = try Container(path: path)
        mapping = try MappedFile(path: path)
    }

    public var metadata: [String: GGUFValue] { container.file.metadata }

    /// The weight named `name` (full container name, e.g. `vicuna.model.norm.weight`).
    public func weight(_ name: String) throws -> Weight {
        guard let tensor = container.file[tensor: name] else {
            throw FormatError(container.file.path, tensor: name, "not in the container")
        }
        let bytes = try mapping.bytes(offset: tensor.fileOffset, count: tensor.byteCount)
        return Weight(name: name, type: tensor.type, shape: container.originalShape(of: tensor), bytes: bytes, owner: mapping)
    }

    public func contains(_ name: String) -> Bool { container.file[tensor: name] != nil }

    /// Drops the pages of a component's tensors from this process; they return on next use.
    public func release(component: String) {
        for tensor in container.tensors(of: component) {
            mapping.release(offset: tensor.fileOffset, count: tensor.byteCount)
        }
    }

    /// Drops the mapped pages under one weight (e.g. after a repacked copy replaced it).
    public func releasePages(of weight: Weight) {
        guard let start = weight.bytes.baseAddress, start >= mapping.base, start < mapping.base + mapping.size else { return }
        mapping.release(offset: start - mapping.base, count: weight.bytes.count)
    }

    /// Reads a component's pages ahead of use.
    public func prefetch(component: String) {
        for tensor in container.tensors(of: component) {
            mapping.prefetch(offset: tensor.fileOffset, count: tensor.byteCount)
        }
    }
}

/// Resident memory of this process, split as Linux accounts it: anonymous memory (activations,
/// caches) and file-backed pages (mapped weights, shared with the page cache).
public struct MemoryReport: Sendable, CustomStringConvertible {
    public var anonymousBytes: Int
    public var fileBytes: Int
    public var peakBytes: Int

    public static func current() -> MemoryReport {
        var fields: [String: Int] = [:]
        if let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let number = parts[1].filter(\.isNumber)
                if let kb = Int(number) { fields[String(parts[0])] = kb * 1024 }
            }
        }
        return MemoryReport(anonymousBytes: fields["RssAnon"] ?? 0, fileBytes: fields["RssFile"] ?? 0, peakBytes: fields["VmHWM"] ?? 0)
    }

    public var description: String {
        func mb(_ n: Int) -> String { String(format: "%.1f MB", Double(n) / 1e6) }
        return "RSS anon \(mb(anonymousBytes)), file-backed \(mb(fileBytes)), peak \(mb(peakBytes))"
    }
}

extension ModelFile {
    /// The config JSON stored for `component` (`<component>.config`) and where it came from
    /// (`file:key`, for errors); `kind` completes the message when the key is missing.
    public func storedConfig(of component: String, kind: String) throws -> (json: [String: Any], origin: String) {
        let key = "\(component).config"
        guard case .string(let text)? = metadata[key] else {
            throw FormatError(container.file.path, "component '\(component)' has no \(key) (is it \(kind)?)")
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw FormatError(container.file.path, "\(key) is not a JSON object")
        }
        return (object, "\(container.file.path):\(key)")
    }
}
