import Foundation
import NextGPTCore

/// Finds and reads the weights of one Hugging Face model folder (transformers or diffusers
/// component): a sharded index (`*.safetensors.index.json`, `*.bin.index.json`) or a single file,
/// preferring safetensors, and the plain files over an `fp16` variant.
public enum HFWeights {
    /// File stems transformers and diffusers write, in order of preference.
    public static let transformersStems = ["model", "pytorch_model"]
    public static let diffusersStems = ["diffusion_pytorch_model"]

    public static func read(folder: String, stems: [String] = transformersStems + diffusersStems,
                            variant: String? = nil) throws -> Checkpoint {
        guard let path = try locate(folder: folder, stems: stems, variant: variant) else {
            let listing = (try? FileManager.default.contentsOfDirectory(atPath: folder).sorted().joined(separator: ", ")) ?? "unreadable"
            throw FormatError(folder, "no weights found (looked for \(stems.map { "\($0).safetensors|.bin" }.joined(separator: ", ")), with index or fp16 variants); folder holds: \(listing)")
        }
        if path.hasSuffix(".index.json") { return try readSharded(index: path) }
        return try readCheckpointFile(path)
    }

    /// The weights file or index to read, or nil if the folder holds none.
    static func locate(folder: String, stems: [String], variant: String?) throws -> String? {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw FormatError(folder, "is not a folder")
        }
        let variants = variant.map { [$0] } ?? [nil, "fp16"]
        for v in variants {
            let infix = v.map { ".\($0)" } ?? ""
            for stem in stems {
                for ext in ["safetensors", "bin"] {
                    let index = "\(folder)/\(stem)\(infix).\(ext).index.json"
                    if fm.fileExists(atPath: index) { return index }
                    let single = "\(folder)/\(stem)\(infix).\(ext)"
                    if fm.fileExists(atPath: single) { return single }
                }
            }
        }
        return nil
    }

    /// Reads every shard named in the index's `weight_map` and checks each key lives where the index says.
    public static func readSharded(index: String) throws -> Checkpoint {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: index)) } catch {
            throw FormatError(index, "cannot read: \(error.localizedDescription)")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let map = json["weight_map"] as? [String: String] else {
            throw FormatError(index, "not a sharded-checkpoint index (no weight_map object)")
        }
        let folder = (index as NSString).deletingLastPathComponent
        var shards: [String] = []
        for file in map.values where !shards.contains(file) { shards.append(file) }
        shards.sort()
        var result = Checkpoint(tensors: [], files: [index])
        for shard in shards {
            guard !shard.contains("/") && !shard.contains("..") else {
                throw FormatError(index, "shard name '\(shard)' leaves the folder")
            }
            let checkpoint = try readCheckpointFile("\(folder)/\(shard)")
            for tensor in checkpoint.tensors where map[tensor.name] != shard {
                throw FormatError(checkpoint.files[0], tensor: tensor.name, "is not listed for this shard in \(index)")
            }
            try result.merge(checkpoint)
        }
        let present = Set(result.names)
        if let missing = map.keys.sorted().first(where: { !present.contains($0) }) {
            throw FormatError(index, tensor: missing, "listed in weight_map but missing from \(map[missing]!)")
        }
        return result
    }
}

/// Reads one checkpoint file of any supported format (safetensors, torch zip, legacy torch).
func readCheckpointFile(_ path: String) throws -> Checkpoint {
    try CheckpointFile.read(path: path)
}
