import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a container's components, configs, bytes per type and provenance.",
        discussion: """
        Examples:
          nextgpt inspect nextgpt-q4_0.gguf
          nextgpt inspect nextgpt-q4_0.gguf --tensors
          nextgpt inspect nextgpt-q4_0.gguf --json | jq '.components[0]'
        """)

    @Argument(help: "Container file.")
    var file: String

    @Flag(help: "Print machine-readable JSON.")
    var json = false

    @Flag(help: "List every tensor (name, type, shape, bytes).")
    var tensors = false

    func run() throws {
        let container: Container
        do { container = try Container(path: file) } catch let error as FormatError { throw Failure(error.description) }
        let gguf = container.file
        let summaries = container.components.map { summary(of: $0, in: container) }
        if json {
            var object: [String: Any] = [
                "file": file, "version": Int(gguf.version), "alignment": gguf.alignment,
                "tensor_count": gguf.tensors.count, "file_bytes": gguf.file.size,
                "quantization": ["type": gguf.string("nextgpt.quantization.type") ?? "",
                                 "rules": gguf.metadata["nextgpt.quantization.rules"]?.stringArray ?? []],
                "components": summaries.map(\.json),
            ]
            if tensors {
                object["tensors"] = gguf.tensors.map { t -> [String: Any] in
                    ["name": t.name, "type": t.type.description, "shape": container.originalShape(of: t),
                     "stored_shape": t.shape, "bytes": t.byteCount, "offset": t.fileOffset]
                }
            }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }

        print("\(file): GGUF v\(gguf.version), \(formatBytes(gguf.file.size)), \(gguf.tensors.count) tensors, alignment \(gguf.alignment)")
        print("quantization: \(gguf.string("nextgpt.quantization.type") ?? "?")" +
              ((gguf.metadata["nextgpt.quantization.rules"]?.stringArray ?? []).map { ", \($0)" }.joined()))
        print("")
        let types = Array(Set(gguf.tensors.map(\.type))).sorted { $0.rawValue < $1.rawValue }
        let header = "component".padding(toLength: 24, withPad: " ", startingAt: 0) + "format".padding(toLength: 18, withPad: " ", startingAt: 0)
            + "tensors".leftPad(8) + types.map { $0.description.leftPad(12) }.joined() + "total".leftPad(12)
        print(header)
        for s in summaries {
            var line = s.name.padding(toLength: 24, withPad: " ", startingAt: 0) + s.format.padding(toLength: 18, withPad: " ", startingAt: 0)
            line += String(s.tensorCount).leftPad(8)
            line += types.map { (s.bytesByType[$0].map(formatBytes) ?? "-").leftPad(12) }.joined()
            line += formatBytes(s.bytesByType.values.reduce(0, +)).leftPad(12)
            print(line)
        }
        print("\nconfigs and tokenizers:")
        for key in gguf.metadataKeys where isDescriptive(key) {
            print("  \(key): \(describe(gguf.metadata[key]!))")
        }
        print("\nprovenance:")
        for s in summaries {
            print("  \(s.name):")
            for (i, f) in s.files.enumerated() {
                let size = i < s.sizes.count ? formatBytes(s.sizes[i]) : "?"
                let hash = i < s.hashes.count ? String(s.hashes[i].prefix(16)) : "not recorded"
                print("    \(f)  \(size)  sha256 \(hash)…")
            }
        }
        if tensors {
            print("\ntensors:")
            for t in gguf.tensors {
                let shape = container.originalShape(of: t)
                let stored = shape == t.shape ? "" : " stored \(t.shape)"
                print("  \(t.name)  \(t.type)  \(shape)\(stored)  \(formatBytes(t.byteCount))")
            }
        }
    }

    struct ComponentSummary {
        var name: String, format: String, tensorCount: Int
        var bytesByType: [GGMLType: Int]
        var files: [String], sizes: [Int], hashes: [String]

        var json: [String: Any] {
            ["name": name, "format": format, "tensor_count": tensorCount,
             "bytes_by_type": Dictionary(uniqueKeysWithValues: bytesByType.map { ($0.key.description, $0.value) }),
             "source": zip(files.indices, files).map { i, f -> [String: Any] in
                 ["file": f, "bytes": i < sizes.count ? sizes[i] : -1, "sha256": i < hashes.count ? hashes[i] : ""]
             }]
        }
    }

    func summary(of component: String, in container: Container) -> ComponentSummary {
        let m = container.file.metadata
        let tensors = container.tensors(of: component)
        var bytes: [GGMLType: Int] = [:]
        for t in tensors { bytes[t.type, default: 0] += t.byteCount }
        return ComponentSummary(
            name: component, format: m["\(component).source.format"]?.stringValue ?? "?", tensorCount: tensors.count,
            bytesByType: bytes, files: m["\(component).source.files"]?.stringArray ?? [],
            sizes: m["\(component).source.sizes"]?.intArray ?? [], hashes: m["\(component).source.sha256"]?.stringArray ?? [])
    }

    func isDescriptive(_ key: String) -> Bool {
        !key.hasPrefix("general.") && !key.hasPrefix("nextgpt.orig_shape.") && !key.contains(".source.")
            && !key.hasSuffix(".tensor_crc32c") && key != "nextgpt.components"
    }

    func describe(_ value: GGUFValue) -> String {
        switch value {
        case .string(let s):
            let flat = s.replacingOccurrences(of: "\n", with: " ")
            return flat.count > 100 ? "\(flat.prefix(100))… (\(s.utf8.count) bytes)" : flat
        case .array(let type, let elements):
            let preview = elements.prefix(4).map(describe).joined(separator: ", ")
            return "[\(type)] × \(elements.count): \(preview)\(elements.count > 4 ? ", …" : "")"
        case .float32(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        default: return value.intValue.map(String.init) ?? "\(value)"
        }
    }
}
