import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTMedia
import NextGPTServerAPI
import NextGPTTokenizers
import NextGPTVerify

/// One case per parser the fuzz package drives. `run` is the whole body of the target's
/// `LLVMFuzzerTestOneInput`; the seed-corpus test calls the same function, so the executables
/// and the test can never drift apart. Errors are expected; a trap or a sanitizer report is the finding.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case safetensors, zip, pickle
    case legacyTorch = "legacy-torch"
    case gguf
    case jsonConfig = "json-config"
    case sentencepiece, bpe, png, wav
    case referenceBundle = "reference-bundle"
    case server, jpeg, mp4

    /// Inputs larger than this are skipped (libFuzzer's -max_len is 64 KiB; the cap also bounds
    /// what a media decoder is handed).
    public static let maxInputBytes = 1 << 20

    /// Runs the parser on `bytes`; true when it accepted the input (the test checks that every
    /// target accepts some seed, so a body that refuses everything is noticed).
    @discardableResult
    public func run(_ bytes: [UInt8]) -> Bool {
        guard bytes.count <= Self.maxInputBytes else { return false }
        switch self {
        case .safetensors:
            let path = FuzzInput.write(bytes, name: "input.safetensors")
            guard let checkpoint = try? SafetensorsFile.read(path: path) else { return false }
            FuzzInput.touch(checkpoint.tensors)
            return true
        case .zip:
            let path = FuzzInput.write(bytes, name: "input.zip")
            var accepted = false
            if let archive = try? ZipArchive(path: path) {
                accepted = true
                for entry in archive.entries.prefix(64) { _ = try? archive.readStored(entry, limit: 1 << 20) }
            }
            // The whole torch zip path too: data.pkl lookup, byteorder/version records.
            if let checkpoint = try? TorchCheckpoint.read(path: path) { FuzzInput.touch(checkpoint.tensors) }
            return accepted
        case .pickle:
            let path = FuzzInput.write(TorchZipWrapper.archive(pickle: bytes), name: "input.pt")
            guard let checkpoint = try? TorchCheckpoint.read(path: path) else { return false }
            FuzzInput.touch(checkpoint.tensors)
            return true
        case .legacyTorch:
            let path = FuzzInput.write(bytes, name: "input.pt")
            guard let checkpoint = try? CheckpointFile.read(path: path) else { return false }
            FuzzInput.touch(checkpoint.tensors)
            return true
        case .gguf:
            let path = FuzzInput.write(bytes, name: "input.gguf")
            guard let file = try? GGUFFile(path: path) else { return false }
            for tensor in file.tensors.prefix(64) where tensor.byteCount <= 1 << 20 { _ = try? file.bytes(of: tensor) }
            _ = try? Container(path: path)
            return true
        case .jsonConfig:
            let path = FuzzInput.write(bytes, name: "config.json")
            guard let json = try? JSONFile.object(path) else { return false }
            if let config = try? LlamaConfig(json: json, path: path) { _ = config.inverseFrequencies() }
            return true
        case .sentencepiece:
            guard let tokenizer = try? SentencePieceTokenizer(modelBytes: bytes) else { return false }
            _ = tokenizer.decode(tokenizer.encode("Hello world! ▁ <unk> 12 é 中文 \u{1F600}"))
            return true
        case .bpe:
            let (vocab, merges) = FuzzInput.split(bytes)
            FuzzInput.write(vocab, name: "vocab.json")
            FuzzInput.write(merges, name: "merges.txt")
            let accepted = (try? BPEVocabulary(folder: FuzzInput.folder)) != nil
            if let text = String(validating: merges, as: UTF8.self), let tokenizer = try? ImageBindTokenizer(mergesFileText: text) {
                _ = tokenizer("a photo of a dog, 2 cats & <b>one</b> bird!")
            }
            return accepted
        case .png:
            let path = FuzzInput.write(bytes, name: "input.png")
            _ = try? PNGImage.textChunks(path: path)
            return (try? PNGImage.read(path: path)) != nil
        case .wav:
            return (try? AudioFile.read(path: FuzzInput.write(bytes, name: "input.wav"))) != nil
        case .referenceBundle:
            return Self.referenceBundle(bytes)
        case .server:
            return Self.serverRequest(bytes)
        case .jpeg:
            // FFmpeg's image path (JPEG, and whatever else libavformat sniffs), not ImageFile's PNG branch.
            return (try? FFmpegImageDecoder.read(path: FuzzInput.write(bytes, name: "input.jpg"))) != nil
        case .mp4:
            return Self.video(bytes)
        }
    }

    /// `ReferenceBundle`: the safetensors header, the `nextgpt.reference` JSON and its probes,
    /// then the tensors the probes name (small ones), read as the verifier reads them.
    static func referenceBundle(_ bytes: [UInt8]) -> Bool {
        let path = FuzzInput.write(bytes, name: "bundle.safetensors")
        guard let bundle = try? ReferenceBundle(path: path) else { return false }
        let sizes = Dictionary(bundle.checkpoint.tensors.map { ($0.name, $0.byteCount) }, uniquingKeysWith: { a, _ in a })
        for probe in bundle.probes.prefix(16) {
            for name in Array(probe.inputs.values) + Array(probe.expect.values) where (sizes[name] ?? .max) <= 1 << 20 {
                _ = try? bundle.tensor(name)
            }
            _ = probe.args.mapValues(\.any)
            _ = probe.args.description
        }
        return true
    }

    /// A catalog with every model the server knows, the tiny Vicuna fixture's tokenizer (when the
    /// checkout is where this file was compiled) and a 2048-token context; and one with Vicuna alone.
    static let catalogs: [ContainerCatalog] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let model = FileManager.default.contents(atPath: "\(root)/Tests/Fixtures/vicuna/tokenizer.model")
        let tokenizer = model.flatMap { try? SentencePieceTokenizer(modelBytes: Array($0)) }
        return [
            ContainerCatalog(components: ["vicuna", "nextgpt", "imagebind", "sd15.unet", "audioldm.unet", "zeroscope.unet"],
                             tokenizer: tokenizer, contextLength: 2048),
            ContainerCatalog(components: ["vicuna"], tokenizer: tokenizer, contextLength: 2048),
        ]
    }()

    /// The server's request checks on one body: a chat completion (messages, media parts as data
    /// URLs decoded and opened by their readers, sampling fields, the decoders' options) for both
    /// catalogs, and the three generation endpoints' bodies.
    static func serverRequest(_ bytes: [UInt8]) -> Bool {
        let body = Data(bytes)
        var accepted = false
        for catalog in catalogs {
            guard let uploads = try? Uploads(root: FuzzInput.folder) else { continue }
            if (try? ChatPlan(body, catalog: catalog, uploads: uploads)) != nil { accepted = true }
            uploads.remove()
        }
        let catalog = catalogs[0]
        if (try? GenerationRequest.images(body, catalog: catalog)) != nil { accepted = true }
        if (try? GenerationRequest.audio(body, catalog: catalog)) != nil { accepted = true }
        if (try? GenerationRequest.videos(body, catalog: catalog)) != nil { accepted = true }
        return accepted
    }

    /// `VideoFile`: the demuxer's stream checks, then the first and last frames decoded when a
    /// frame is at most 1 MPixel (so one input stays fast; larger sizes are refused or only opened).
    static func video(_ bytes: [UInt8]) -> Bool {
        guard let video = try? VideoFile(path: FuzzInput.write(bytes, name: "input.mp4")) else { return false }
        if video.width * video.height <= 1 << 20 {
            _ = try? video.frames(at: Array(Set([0, video.frameCount - 1])).sorted())
        }
        return true
    }
}
