import Foundation
import NextGPTCore
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia

/// Video files → ImageBind embeddings, as NExT-GPT does it: `load_and_transform_video_data` (decord
/// frames, 5 clips × 2 frames, ShortSideScale, Normalize, 3 spatial crops → [1, 15, 3, 2, 224, 224]),
/// then `ImageBindModel` on the vision modality, the 15 clip embeddings averaged. Embeddings are
/// the mean of unit vectors (not re-normalized), as ImageBind gives them.
public struct ImageBindVideoEmbedder: Sendable {
    public let model: ImageBindModel
    public let clipSampler: ClipSamplerRule

    public init(model: ImageBindModel, clipSampler: ClipSamplerRule = .pytorchvideo015) {
        self.model = model
        self.clipSampler = clipSampler
    }

    /// One embedding [N, out_embed_dim] per video file, in order; each file is decoded once (only
    /// its 10 kept frames are held) and its 15 clips run as one batch. A file that cannot be read
    /// is an error naming it.
    public func embed(paths: [String], context: ExecutionContext, progress: ProgressReporter? = nil) throws -> Tensor {
        guard !paths.isEmpty else { throw VideoError.badRequest(path: "", reason: "no video files given") }
        var rows: [Float] = []
        var width = 0
        for path in paths {
            let clips = try ImageBindVideoTransform.clips(path: path, rule: clipSampler, context: context, progress: progress)
            let embedding = try model(clips, modality: .vision, context: context)
            width = embedding.shape[1]
            rows += embedding.values
        }
        return Tensor(shape: [paths.count, width], values: rows)
    }
}
