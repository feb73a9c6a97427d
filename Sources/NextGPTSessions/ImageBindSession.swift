import Foundation
import NextGPTCore
import NextGPTImageBind
import NextGPTKernels
import NextGPTLayers
import NextGPTTokenizers

/// ImageBind embeddings of image files, audio files and texts, and their cosine similarities
/// (ImageBind's zero-shot use: which caption matches this picture or sound). Video inputs come
/// with their readers and pre-processing (issue 11).
public struct ImageBindSession: Sendable {
    public let model: ImageBindModel
    public let context: ExecutionContext
    /// For texts: from `mergesFile`, else from the merges the converter stored; nil when neither exists.
    public let tokenizer: ImageBindTokenizer?

    /// `component` of the container at `path`; `mergesFile` (`bpe_simple_vocab_16e6.txt[.gz]`)
    /// overrides the merges stored in the container.
    public init(path: String, component: String = "imagebind", mergesFile: String? = nil, context: ExecutionContext) throws {
        try self.init(file: try ModelFile(path: path), component: component, mergesFile: mergesFile, context: context)
    }

    /// The same from an opened container (a staged run shares one mapping between its stages).
    public init(file: ModelFile, component: String = "imagebind", mergesFile: String? = nil, context: ExecutionContext) throws {
        // Q8_0/Q4_0 weights in the integer kernels' layout (their pages dropped): the vision trunk's 257-token
        // batches then take the integer GEMM, about 5× the dequantize-and-sgemm path.
        model = try ImageBindModel(file, component: component, options: LoadOptions(repackQuantized: true, context: context))
        if let mergesFile {
            tokenizer = try ImageBindTokenizer(mergesFile: mergesFile)
        } else if let stored = file.metadata["\(component).tokenizer.merges"] {
            guard let merges = stored.stringArray, merges.count == stored.arrayValue?.count else {
                throw ImageBindSessionError("\(file.container.file.path): \(component).tokenizer.merges is not an array of strings")
            }
            tokenizer = try ImageBindTokenizer(merges: merges)
        } else {
            tokenizer = nil
        }
        self.context = context
    }

    /// How media files are pre-processed: the pytorchvideo clip-start rule (audio and video), the
    /// resampler (audio), and upstream's ×20 on audio embeddings instead of NExT-GPT's none.
    public typealias MediaOptions = ImageBindAudioEmbedder.Options

    /// Embeddings [images + audios + videos + texts, D] in that order, each as NExT-GPT's
    /// ImageBind gives it (vision and audio unit length, text scaled by its learned logit scale).
    /// `progress` hears the video decoding, the long part.
    public func embed(images: [String], audios: [String] = [], videos: [String] = [], texts: [String],
                      audio: MediaOptions = .init(), progress: ProgressReporter? = nil) throws -> Tensor {
        var parts: [Tensor] = []
        if !images.isEmpty { parts.append(try ImageBindImageEmbedder(model: model).embed(paths: images, context: context)) }
        if !audios.isEmpty {
            let embedder = ImageBindAudioEmbedder(model: model, clipSampler: audio.clipSampler, resampling: audio.resampling,
                                                  audioLogitScale: audio.audioLogitScale)
            parts.append(try embedder.embed(paths: audios, context: context))
        }
        if !videos.isEmpty {
            parts.append(try ImageBindVideoEmbedder(model: model, clipSampler: audio.clipSampler)
                .embed(paths: videos, context: context, progress: progress))
        }
        if !texts.isEmpty {
            guard let tokenizer else {
                throw ImageBindSessionError("texts need ImageBind's BPE merges: this container has none (convert with --imagebind-bpe) and no merges file was given")
            }
            let ids = texts.flatMap { tokenizer($0).map(Float.init) }
            parts.append(try model(Tensor(shape: [texts.count, ImageBindTokenizer.contextLength], values: ids), modality: .text,
                                   context: context))
        }
        guard !parts.isEmpty else { throw ImageBindSessionError("nothing to embed: give at least one image, audio file, video or text") }
        return parts.count == 1 ? parts[0] : Shape.cat(parts, dim: 0)
    }

    /// Cosine similarity of every pair of rows of `embeddings` [N, D] → N × N.
    public static func cosineSimilarities(_ embeddings: Tensor) -> [[Double]] {
        let n = embeddings.shape[0], d = embeddings.shape[1], v = embeddings.values
        let rows = (0..<n).map { i in v[(i * d)..<((i + 1) * d)].map(Double.init) }
        let norms = rows.map { $0.reduce(0) { $0 + $1 * $1 }.squareRoot() }
        return (0..<n).map { i in
            (0..<n).map { j in zip(rows[i], rows[j]).reduce(0) { $0 + $1.0 * $1.1 } / max(norms[i] * norms[j], 1e-30) }
        }
    }
}

public struct ImageBindSessionError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
