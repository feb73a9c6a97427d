import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels

/// Decides each tensor's container type. Linear and convolution weights whose row
/// (in × kh × kw …) is a whole number of blocks take the requested type; norms, biases,
/// position/time/class embeddings, learned queries and small tensors stay float.
/// `--tensor-type REGEX=TYPE` rules come first, as in llama.cpp and stable-diffusion.cpp.
public struct QuantizationPolicy: Sendable {
    public struct Rule: Sendable, CustomStringConvertible {
        public let pattern: String
        public let type: GGMLType
        let regex: NSRegularExpression

        /// Parses `REGEX=TYPE`.
        public init(_ text: String) throws {
            guard let eq = text.lastIndex(of: "=") else { throw PolicyError("tensor-type rule '\(text)' is not REGEX=TYPE") }
            pattern = String(text[..<eq])
            let typeName = String(text[text.index(after: eq)...])
            guard let type = GGMLType(name: typeName) else { throw PolicyError("unknown tensor type '\(typeName)' in '\(text)'") }
            self.type = type
            do { regex = try NSRegularExpression(pattern: pattern) } catch { throw PolicyError("invalid regex '\(pattern)': \(error.localizedDescription)") }
        }

        func matches(_ name: String) -> Bool {
            regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
        }

        public var description: String { "\(pattern)=\(type)" }
    }

    public struct PolicyError: Error, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// Tensors with fewer elements stay float: quantizing them saves nothing and costs accuracy.
    public static let smallTensorElements = 4096
    /// Names that are embeddings of positions, time or classes, learned queries or attention
    /// extras: kept float whatever their shape.
    public static let keepFloatPatterns = [
        "pos_embed", "position_embedding", "positional_embedding", "embed_positions", "cls_token",
        "query_embs", "bias_k", "bias_v", "logit_scale", "time_embed", "time_embedding", "time_proj",
        "class_embedding", "add_embedding", "label_emb", "film_emb",
    ]

    public var type: GGMLType
    public var rules: [Rule]

    public init(type: GGMLType, rules: [Rule] = []) {
        self.type = type
        self.rules = rules
    }

    /// The decision for one tensor: its container type and the shape it is stored with.
    public struct Decision: Sendable, Equatable {
        public var type: GGMLType
        public var storedShape: [Int]
        /// The PyTorch shape, when the stored shape differs from it.
        public var originalShape: [Int]?
    }

    public func decide(name: String, shape: [Int], dtype: DType) -> Decision {
        guard dtype.isFloatingPoint else {
            let type = GGMLType(lossless: dtype) ?? .i8
            return fold(shape, type: type)
        }
        let requested = rules.first { $0.matches(name) }?.type ?? defaultType(name: name, shape: shape)
        if requested.isQuantized {
            let row = shape.dropFirst().reduce(1, *)
            if shape.count >= 2, row % requested.blockSize == 0 {
                return fold(shape, type: requested)
            }
            // Rows that do not fit a 256-block still fit ggml's 32-blocks of the same width.
            if requested == .q4_K, shape.count >= 2, row % GGMLType.q4_0.blockSize == 0 {
                return fold(shape, type: .q4_0)
            }
            return fold(shape, type: shape.count >= 2 ? .f16 : .f32)
        }
        return fold(shape, type: requested)
    }

    private func defaultType(name: String, shape: [Int]) -> GGMLType {
        switch type {
        case .f32, .f64: return .f32
        case .f16, .bf16:
            return shape.count >= 2 ? type : .f32
        default:
            if shape.count < 2 { return .f32 }
            let count = shape.reduce(1, *)
            let isWeight = name.hasSuffix("weight")
            let keepFloat = QuantizationPolicy.keepFloatPatterns.contains { name.contains($0) }
            if !isWeight || keepFloat || count < QuantizationPolicy.smallTensorElements { return .f16 }
            return type
        }
    }

    /// Quantized tensors are stored as [rows, row length] so blocks run along the whole row;
    /// anything beyond 4 dims folds its trailing dims. Scalars are stored as [1].
    private func fold(_ shape: [Int], type: GGMLType) -> Decision {
        var stored = shape
        if shape.isEmpty {
            stored = [1]
        } else if type.isQuantized && shape.count > 2 {
            stored = [shape[0], shape.dropFirst().reduce(1, *)]
        } else if shape.count > 4 {
            stored = Array(shape[0..<3]) + [shape[3...].reduce(1, *)]
        }
        return Decision(type: type, storedShape: stored, originalShape: stored == shape ? nil : shape)
    }

    public var summary: [String] { ["type=\(type)"] + rules.map { "rule=\($0)" } }
}
