import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTLayers

/// A diffusers/transformers `config.json` as stored in a container (`<component>.config`), with
/// typed reads that fall back to the library's constructor defaults when a key is absent or null
/// (configs written by older library versions omit newer keys).
/// Not `Sendable` (`Any` could hold anything): it is read while a model is built, and what a model
/// keeps is the typed, `Sendable` configuration made from it.
public struct DiffusersConfig {
    public let values: [String: Any]
    /// "file:key", for errors.
    public let origin: String

    public init(values: [String: Any], origin: String) {
        self.values = values
        self.origin = origin
    }

    /// The config of `component` in an opened container.
    public static func load(_ model: ModelFile, component: String) throws -> DiffusersConfig {
        let key = "\(component).config"
        guard case .string(let text)? = model.metadata[key] else {
            throw FormatError(model.container.file.path, "component '\(component)' has no \(key)")
        }
        return try parse(text, origin: "\(model.container.file.path):\(key)")
    }

    public static func parse(_ text: String, origin: String) throws -> DiffusersConfig {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw FormatError(origin, "not a JSON object")
        }
        return DiffusersConfig(values: object, origin: origin)
    }

    func present(_ key: String) -> Any? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        return value
    }

    public func has(_ key: String) -> Bool { present(key) != nil }

    /// JSONSerialization gives numbers and true/false alike as NSNumber, and on Linux `0 is Bool`
    /// and `1 is Bool` hold; only the booleans have the `char` type encoding.
    static func isBoolean(_ value: Any) -> Bool {
        guard let number = value as? NSNumber else { return value is Bool }
        return String(cString: number.objCType) == "c"
    }

    static func isNumber(_ value: Any) -> Bool { value is NSNumber && !isBoolean(value) }

    public func int(_ key: String, default fallback: Int) throws -> Int {
        try optionalInt(key) ?? fallback
    }

    public func optionalInt(_ key: String) throws -> Int? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, !Self.isBoolean(value), number.doubleValue == number.doubleValue.rounded() else {
            throw FormatError(origin, "'\(key)' must be an integer, got \(value)")
        }
        return number.intValue
    }

    public func double(_ key: String, default fallback: Double) throws -> Double {
        try optionalDouble(key) ?? fallback
    }

    public func optionalDouble(_ key: String) throws -> Double? {
        guard let value = present(key) else { return nil }
        guard let number = value as? NSNumber, !Self.isBoolean(value) else { throw FormatError(origin, "'\(key)' must be a number, got \(value)") }
        return number.doubleValue
    }

    public func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = present(key) else { return fallback }
        guard Self.isBoolean(value), let flag = value as? Bool else { throw FormatError(origin, "'\(key)' must be true or false, got \(value)") }
        return flag
    }

    public func string(_ key: String, default fallback: String) throws -> String {
        try optionalString(key) ?? fallback
    }

    public func optionalString(_ key: String) throws -> String? {
        guard let value = present(key) else { return nil }
        guard let text = value as? String else { throw FormatError(origin, "'\(key)' must be a string, got \(value)") }
        return text
    }

    public func strings(_ key: String, default fallback: [String]) throws -> [String] {
        guard let value = present(key) else { return fallback }
        guard let list = value as? [String] else { throw FormatError(origin, "'\(key)' must be a list of strings, got \(value)") }
        return list
    }

    public func ints(_ key: String, default fallback: [Int]) throws -> [Int] {
        guard let value = present(key) else { return fallback }
        guard let list = value as? [NSNumber], list.allSatisfy(Self.isNumber) else {
            throw FormatError(origin, "'\(key)' must be a list of integers, got \(value)")
        }
        return list.map(\.intValue)
    }

    /// A per-block setting that diffusers accepts as one integer for every block or as a list
    /// with one entry per block (`attention_head_dim`, `cross_attention_dim`, `layers_per_block`…).
    public func perBlock(_ key: String, blocks: Int, default fallback: Int) throws -> [Int] {
        guard let value = present(key) else { return [Int](repeating: fallback, count: blocks) }
        if let number = value as? NSNumber, !Self.isBoolean(value) { return [Int](repeating: number.intValue, count: blocks) }
        guard let list = value as? [NSNumber], list.count == blocks, list.allSatisfy(Self.isNumber) else {
            throw FormatError(origin, "'\(key)' must be an integer or a list of \(blocks), got \(value)")
        }
        return list.map(\.intValue)
    }

    /// As `perBlock`, for flags (`only_cross_attention`).
    public func perBlockFlag(_ key: String, blocks: Int, default fallback: Bool) throws -> [Bool] {
        guard let value = present(key) else { return [Bool](repeating: fallback, count: blocks) }
        if Self.isBoolean(value), let flag = value as? Bool { return [Bool](repeating: flag, count: blocks) }
        guard let items = value as? [Any], items.count == blocks, items.allSatisfy(Self.isBoolean), let list = value as? [Bool] else {
            throw FormatError(origin, "'\(key)' must be true/false or a list of \(blocks), got \(value)")
        }
        return list
    }
}
