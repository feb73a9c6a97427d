import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// What one run of the CLAP text model gives for a batch of sequences.
public struct ClapTextOutput: Sendable {
    /// [B, P]: `text_projection(pooler_output)`, before any normalisation.
    public var textEmbeds: Tensor
    /// [B, T, hidden].
    public var lastHiddenState: Tensor
}

/// transformers' `ClapTextModelWithProjection` (AudioLDM's text encoder).
public final class ClapTextModelWithProjection: Sendable {
    public let config: ClapTextConfig
    public let textModel: ClapTextModel
    public let textProjection: ClapProjectionLayer
    public let component: String

    /// The CLAP text encoder `component` (e.g. `audioldm.text_encoder`) of an opened container.
    public convenience init(_ file: ModelFile, component: String, options: LoadOptions = LoadOptions()) throws {
        try self.init(try Weights.component(file, component, options: options), config: try ClapTextConfig.load(file, component: component))
    }

    init(_ w: Weights, config: ClapTextConfig) throws {
        self.config = config
        component = w.prefix
        textModel = try ClapTextModel(w.pp("text_model"), config: config)
        textProjection = try ClapProjectionLayer(w.pp("text_projection"), config: config)
        try w.finish()
    }

    public enum InputError: Error, CustomStringConvertible {
        case badLength(Int, max: Int)
        case idOutOfRange(Int, vocabulary: Int)
        case ragged([Int])
        case maskShape(sequences: Int, length: Int, masks: [Int])

        public var description: String {
            switch self {
            case .badLength(let t, let max): return "CLAP text model: \(t) ids, the model takes 1…\(max)"
            case .idOutOfRange(let id, let v): return "CLAP text model: id \(id) is outside the vocabulary 0..<\(v)"
            case .ragged(let lengths): return "CLAP text model: the sequences of one batch must have one length, got \(lengths)"
            case .maskShape(let b, let t, let masks):
                return "CLAP text model: the attention mask must be one row of \(t) per sequence (\(b)), got rows of \(masks)"
            }
        }
    }

    /// Runs every sequence of `batch` (each [T], all of one length) through the model.
    /// `attentionMask`: per sequence, 1 where the token takes part and 0 where it is padding
    /// (all ones when nil, as transformers assumes).
    public func callAsFunction(_ batch: [[Int]], attentionMask: [[Int]]? = nil, context: ExecutionContext) throws -> ClapTextOutput {
        let t = batch.first?.count ?? 0, d = config.hiddenSize
        guard !batch.isEmpty else { throw InputError.badLength(0, max: config.maxSequenceLength) }
        guard batch.allSatisfy({ $0.count == t }) else { throw InputError.ragged(batch.map(\.count)) }
        if let attentionMask, attentionMask.count != batch.count || attentionMask.contains(where: { $0.count != t }) {
            throw InputError.maskShape(sequences: batch.count, length: t, masks: attentionMask.map(\.count))
        }
        var states: [Tensor] = [], pooled: [Tensor] = []
        for (b, ids) in batch.enumerated() {
            guard !ids.isEmpty, ids.count <= config.maxSequenceLength else {
                throw InputError.badLength(ids.count, max: config.maxSequenceLength)
            }
            if let bad = ids.first(where: { $0 < 0 || $0 >= config.vocabSize }) { throw InputError.idOutOfRange(bad, vocabulary: config.vocabSize) }
            let padding = attentionMask.map { $0[b].map { $0 == 0 } }
            var h = textModel.embeddings(ids, context)
            for layer in textModel.encoder.layer { h = layer(h, padding: padding, context) }
            states.append(h)
            pooled.append(textModel.pooler(h, context))
        }
        let embeds = textProjection(Shape.cat(pooled, dim: 0), context)
        return ClapTextOutput(textEmbeds: embeds, lastHiddenState: Shape.cat(states, dim: 0).reshaped([batch.count, t, d]))
    }

    /// `F.normalize(x, dim=-1)` over the rows of [B, P] (x / max(‖x‖, 1e-12)): what AudioLDM's
    /// pipeline applies to the text embeddings it computes itself.
    public static func normalized(_ embeds: Tensor) -> Tensor {
        let p = embeds.shape.last ?? 1
        var values = embeds.values
        for row in stride(from: 0, to: values.count, by: p) {
            var sum: Double = 0
            for i in row..<(row + p) { sum += Double(values[i]) * Double(values[i]) }
            let norm = Float(max(sum.squareRoot(), 1e-12))
            for i in row..<(row + p) { values[i] /= norm }
        }
        return Tensor(shape: embeds.shape, values: values)
    }
}
