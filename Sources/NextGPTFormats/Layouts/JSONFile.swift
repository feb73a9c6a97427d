import Foundation
import NextGPTCore

/// Small JSON files of upstream folders (config.json, model_index.json, tokenizer configs).
public enum JSONFile {
    /// The file's text, validated as a JSON object.
    public static func text(_ path: String) throws -> String {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(path, "cannot read: \(error.localizedDescription)")
        }
        guard (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
            throw FormatError(path, "is not a JSON object")
        }
        return String(decoding: data, as: UTF8.self)
    }

    public static func object(_ path: String) throws -> [String: Any] {
        let data = Data(try text(path).utf8)
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    public static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }
}
