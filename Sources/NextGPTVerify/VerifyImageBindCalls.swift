import Foundation
import NextGPTAnyToAny
import NextGPTCore
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia
import NextGPTTokenizers

/// Calls on an ImageBind component (`imagebind`) and on NExT-GPT's input projection (`nextgpt`).
enum VerifyImageBindCalls {
    static let all: [VerifyCall] = [preprocessImage, preprocessAudio, preprocessVideo, tokenize, embed, llamaProj]

    static let preprocessImage = VerifyCall(
        "imagebind_preprocess_image", inputs: ["rgb"], outputs: ["pixel_values", "pixels"],
        summary: "imagebind/data.py load_and_transform_vision_data after Image.open().convert(\"RGB\"): rgb [H, W, 3] (integers 0–255) → pixel_values [1, 3, 224, 224] (Resize(224, BICUBIC) as Pillow's uint8 resize, CenterCrop(224), ToTensor, CLIP Normalize), and pixels [224, 224, 3] (the uint8 crop ToTensor receives) when expected"
    ) { ctx in
        do {
            let crop = try ImageBindImageTransform.resizedCrop(try ImageBindImageTransform.image(fromRGB: try ctx.input("rgb")))
            var result: [String: Tensor] = [:]
            if ctx.probe.expect["pixel_values"] != nil { result["pixel_values"] = try ImageBindImageTransform.pixelValues(fromCrop: crop) }
            if ctx.probe.expect["pixels"] != nil {
                result["pixels"] = Tensor(shape: [crop.height, crop.width, 3], values: crop.pixels.map(Float.init))
            }
            return result
        } catch let error as ImageError {
            throw ProbeError(error.description)
        }
    }

    static let preprocessVideo = VerifyCall(
        "imagebind_preprocess_video", inputs: ["frames"], outputs: ["clips", "clips_strided", "clips_row_means", "clips_column_means"],
        summary: "imagebind/data.py load_and_transform_video_data on decoded frames: frames [T, H, W, 3] (integers 0–255, what decord's get_batch gives) → clips [1, 15, 3, 2, 224, 224] (5 clips of ConstantClipsPerVideoSampler(2 s) × UniformTemporalSubsample(2), /255, ShortSideScale(224) bilinear, NormalizeVideo, SpatialCrop(224, 3)); only the outputs a probe expects are computed: clips_strided = clips[..., 4::9, 4::9], clips_row_means = clips.mean(-1), clips_column_means = clips.mean(-2) (means in f64); args fps (required), clip_sampler (\"pytorchvideo-0.1.5\" default, or \"pytorchvideo-main\")"
    ) { ctx in
        guard let fps = try ctx.double("fps") else { throw ProbeError("argument 'fps' (a number) is required") }
        let ruleName = try ctx.string("clip_sampler", default: ClipSamplerRule.pytorchvideo015.rawValue)
        guard let rule = ClipSamplerRule(rawValue: ruleName) else {
            throw ProbeError("argument 'clip_sampler' must be one of \(ClipSamplerRule.allCases.map(\.rawValue)), got \"\(ruleName)\"")
        }
        let clips: Tensor
        do {
            clips = try ImageBindVideoTransform.clips(frames: try ctx.input("frames"), fps: fps, rule: rule, context: ctx.execution)
        } catch let error as ImageBindVideoTransform.TransformError {
            throw ProbeError(error.description)
        }
        var result: [String: Tensor] = [:]
        let expect = ctx.probe.expect
        if expect["clips"] != nil { result["clips"] = clips }
        if expect["clips_strided"] != nil { result["clips_strided"] = VideoClipDigests.strided(clips, start: 4, step: 9) }
        if expect["clips_row_means"] != nil { result["clips_row_means"] = VideoClipDigests.means(clips, overRows: false) }
        if expect["clips_column_means"] != nil { result["clips_column_means"] = VideoClipDigests.means(clips, overRows: true) }
        return result
    }

    static let preprocessAudio = VerifyCall(
        "imagebind_preprocess_audio", inputs: ["waveform"], outputs: ["mel"],
        summary: "imagebind/data.py load_and_transform_audio_data after torchaudio.load: waveform [channels, samples] (float, as torchaudio.load gives it) → mel [1, S, 1, 128, 204] (resample to 16 kHz when needed, ConstantClipsPerVideoSampler(2, 3) clips, per-clip in-place mean removal, Kaldi fbank, pad/crop to 204, Normalize(-4.268, 9.138)); args sample_rate (16000), clip_sampler (\"pytorchvideo-0.1.5\" default, or \"pytorchvideo-main\")"
    ) { ctx in
        let rate = try ctx.int("sample_rate", default: ImageBindAudioTransform.sampleRate)
        let ruleName = try ctx.string("clip_sampler", default: ClipSamplerRule.pytorchvideo015.rawValue)
        guard let rule = ClipSamplerRule(rawValue: ruleName) else {
            throw ProbeError("argument 'clip_sampler' must be \"pytorchvideo-0.1.5\" or \"pytorchvideo-main\", got \"\(ruleName)\"")
        }
        do {
            let waveform = try Waveform(tensor: try ctx.input("waveform"), sampleRate: rate)
            return ["mel": try ImageBindAudioTransform.mel(waveform, clipSampler: rule)]
        } catch let error as AudioError {
            throw ProbeError(error.description)
        }
    }

    static let tokenize = VerifyCall(
        "imagebind_tokenize", inputs: [], outputs: ["ids"],
        summary: "ImageBind's SimpleTokenizer(text) → ids [77] (start, BPE ids, end, zeros); args text (required), bpe (the merges text file, bpe_simple_vocab_16e6.txt decompressed or a prefix of it, relative to the bundle's folder; required: the container does not store ImageBind's vocabulary)"
    ) { ctx in
        guard case .string(let text)? = ctx.args["text"] else { throw ProbeError("argument 'text' (a string) is required") }
        let bpe = try ctx.string("bpe", default: "")
        guard !bpe.isEmpty else { throw ProbeError("argument 'bpe' (the merges file, relative to the bundle) is required") }
        let folder = (ctx.bundle.path as NSString).deletingLastPathComponent
        let path = bpe.hasPrefix("/") ? bpe : (folder as NSString).appendingPathComponent(bpe)
        let ids: [Int]
        do { ids = try ImageBindTokenizer(mergesFile: path)(text) } catch let error as TokenizerError { throw ProbeError(error.description) }
        return ["ids": Tensor(shape: [ids.count], values: ids.map(Float.init))]
    }

    static let embed = VerifyCall(
        "imagebind_embed", inputs: ["x"], outputs: ["embedding", "normalized"],
        summary: "ImageBindModel({modality: x})[modality] → embedding [B, D] (x: [B, 3, H, W] images, [B, S, 3, T, H, W] video clips, [B, S, 1, mel, frames] audio or [B, 77] text token ids; rank ≥ 5 averaged over S; text scaled by its learned logit scale), and normalized [B, D] (before any logit scale) when expected; args modality (\"vision\", \"audio\" or \"text\", required), audio_logit_scale (false: NExT-GPT; true: upstream ×20), activations"
    ) { ctx in
        let name = try ctx.string("modality", default: "")
        guard let modality = ImageBindModality(rawValue: name) else {
            throw ProbeError("argument 'modality' must be \"vision\", \"audio\" or \"text\", got \"\(name)\"")
        }
        let x = try ctx.input("x")
        let model = try ImageBindModel(ctx.model, component: ctx.probe.component)
        let context = try ctx.activationsContext()
        do {
            let scaled = try ctx.bool("audio_logit_scale", default: false)
            let (embedding, normalized) = try model.embeddings(x, modality: modality, audioLogitScale: scaled, context: context)
            var result = ["embedding": embedding]
            if ctx.probe.expect["normalized"] != nil { result["normalized"] = normalized }
            return result
        } catch let error as ImageBindModel.InputError {
            throw ProbeError(error.description)
        }
    }

    static let llamaProj = VerifyCall(
        "llama_proj", inputs: ["embedding"], outputs: ["out"],
        summary: "NExT-GPT's llama_proj (nn.Linear, in the nextgpt component): embedding [N, D] → out [N, 1, H]; args activations"
    ) { ctx in
        let projection = try NExTGPTInputProjection(ctx.model, component: ctx.probe.component)
        let embedding = try ctx.input("embedding")
        guard embedding.rank == 2, embedding.shape[1] == projection.inFeatures else {
            throw ProbeError("input 'embedding' must be [N, \(projection.inFeatures)], got \(embedding.shape)")
        }
        return ["out": try projection(embedding, context: try ctx.activationsContext())]
    }
}

/// Smaller views of a [..., H, W] clips tensor, so bundles stay small: a full 15-clip output is 18 MB.
enum VideoClipDigests {
    /// x[..., start::step, start::step].
    static func strided(_ x: Tensor, start: Int, step: Int) -> Tensor {
        let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let rows = Array(stride(from: start, to: h, by: step)), columns = Array(stride(from: start, to: w, by: step))
        let planes = x.count / (h * w)
        return x.withUnsafeBufferPointer { v in
            Tensor(shape: Array(x.shape.dropLast(2)) + [rows.count, columns.count]) { o in
                var i = 0
                for p in 0..<planes { for r in rows { for c in columns { o[i] = v[p * h * w + r * w + c]; i += 1 } } }
            }
        }
    }

    /// Means in f64 over the last dimension (`overRows` false: x.mean(-1)) or the one before (x.mean(-2)).
    static func means(_ x: Tensor, overRows: Bool) -> Tensor {
        let (h, w) = (x.shape[x.rank - 2], x.shape[x.rank - 1])
        let planes = x.count / (h * w)
        let kept = overRows ? w : h
        return x.withUnsafeBufferPointer { v in
            Tensor(shape: Array(x.shape.dropLast(2)) + [kept]) { o in
                for p in 0..<planes {
                    for k in 0..<kept {
                        var sum = 0.0
                        if overRows { for r in 0..<h { sum += Double(v[p * h * w + r * w + k]) } } else {
                            for c in 0..<w { sum += Double(v[p * h * w + k * w + c]) }
                        }
                        o[p * kept + k] = Float(sum / Double(overRows ? h : w))
                    }
                }
            }
        }
    }
}
