import Foundation
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia

/// Audio files → ImageBind embeddings, as NExT-GPT does it: `torchaudio.load` (our readers),
/// `load_and_transform_audio_data` (ImageBindAudioTransform), then `ImageBindModel` on the audio
/// modality, averaged over the clips, with NExT-GPT's post-processing (unit length, no ×20)
/// unless `audioLogitScale` asks for upstream ImageBind's.
public struct ImageBindAudioEmbedder: Sendable {
    public let model: ImageBindModel
    public let clipSampler: ClipSamplerRule
    public let resampling: AudioResampling
    public let audioLogitScale: Bool

    /// The choices `ImageBindSession.embed` passes through.
    public struct Options: Sendable {
        public var clipSampler: ClipSamplerRule
        public var resampling: AudioResampling
        public var audioLogitScale: Bool

        public init(clipSampler: ClipSamplerRule = .pytorchvideo015, resampling: AudioResampling = .torchaudio, audioLogitScale: Bool = false) {
            self.clipSampler = clipSampler
            self.resampling = resampling
            self.audioLogitScale = audioLogitScale
        }
    }

    public init(model: ImageBindModel, clipSampler: ClipSamplerRule = .pytorchvideo015, resampling: AudioResampling = .torchaudio,
                audioLogitScale: Bool = false) {
        self.model = model
        self.clipSampler = clipSampler
        self.resampling = resampling
        self.audioLogitScale = audioLogitScale
    }

    /// `mel` [1, clips, 1, 128, 204] of one file; an unreadable file or one too short for a
    /// single fbank window is an error naming it.
    public static func mel(path: String, clipSampler: ClipSamplerRule = .pytorchvideo015,
                           resampling: AudioResampling = .torchaudio) throws -> Tensor {
        let waveform = try AudioFile.read(path: path)
        do { return try ImageBindAudioTransform.mel(waveform, clipSampler: clipSampler, resampling: resampling) } catch let error as AudioError {
            throw AudioError.badWaveform("\(path): \(error)")
        }
    }

    /// One embedding [N, out_embed_dim] per audio file. Files are embedded one at a time: a short
    /// file may give fewer clips than another, which load_and_transform_audio_data cannot stack.
    public func embed(paths: [String], context: ExecutionContext) throws -> Tensor {
        guard !paths.isEmpty else { throw AudioError.badWaveform("no audio files given") }
        let rows = try paths.map { path in
            try model(try Self.mel(path: path, clipSampler: clipSampler, resampling: resampling), modality: .audio,
                      audioLogitScale: audioLogitScale, context: context)
        }
        return rows.count == 1 ? rows[0] : Shape.cat(rows, dim: 0)
    }
}
