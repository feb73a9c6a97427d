import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia
import NextGPTSessions
import NextGPTTokenizers

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "ImageBind embeddings of images, audio, video and texts, and their cosine similarities.",
        discussion: """
        Every input is pre-processed as imagebind/data.py does: images get Pillow's bicubic resize
        to 224, a centre crop and CLIP normalisation; audio is resampled to 16 kHz, cut into 3 clips
        of 2 s and turned into Kaldi fbanks; video gives 5 clips of 2 frames, each in 3 crops.
        Embeddings are printed images first, then audio, video and texts. Texts use the BPE merges the
        container stores (convert --imagebind-bpe), or --bpe.

        Examples:
          nextgpt embed -m nextgpt-q8_0.gguf --image cat.jpg --image dog.png
          nextgpt embed -m nextgpt-q8_0.gguf --audio bark.wav --text "a dog barking" --text "rain" --similarity
          nextgpt embed -m nextgpt-q8_0.gguf --video clip.mp4 --image frame.png --similarity
          nextgpt embed -m nextgpt-q8_0.gguf --image cat.jpg --json > cat.json
          nextgpt embed -m nextgpt-q8_0.gguf --audio a.mp3 --audio b.flac --npy audio.npy
        """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Container with an ImageBind component.", valueName: "file.gguf"))
    var model: String

    @Option(help: "The ImageBind component of the container.")
    var component = "imagebind"

    @Option(name: .customLong("image"), help: ArgumentHelp("Image file (PNG, JPEG, …); repeatable.", valueName: "path"))
    var images: [String] = []

    @Option(name: .customLong("audio"), help: ArgumentHelp("Audio file (WAV, FLAC, OGG, MP3, M4A, …); repeatable.", valueName: "path"))
    var audios: [String] = []

    @Option(name: .customLong("video"), help: ArgumentHelp("Video file (MP4, MKV, WebM, AVI, …); repeatable.", valueName: "path"))
    var videos: [String] = []

    @Option(name: .customLong("text"), help: ArgumentHelp("Text; repeatable.", valueName: "text"))
    var texts: [String] = []

    @Option(help: ArgumentHelp("ImageBind's BPE merges file (bpe_simple_vocab_16e6.txt[.gz]), for --text when the container stores none.", valueName: "path"))
    var bpe: String?

    @Flag(help: "Print the cosine similarity of every pair of inputs.")
    var similarity = false

    @Flag(help: "Print the embeddings as JSON ({\"inputs\": [...], \"embeddings\": [[...]]}, and \"similarity\" with --similarity).")
    var json = false

    @Option(help: ArgumentHelp("Write the embeddings [N, D] as a float32 .npy file.", valueName: "out.npy"))
    var npy: String?

    @Option(name: .customLong("clip-sampler"), help: ArgumentHelp("pytorchvideo's clip-start rule for audio and video: pytorchvideo-0.1.5 (NExT-GPT's) or pytorchvideo-main (ImageBind's).", valueName: "rule"))
    var clipSampler = ClipSamplerRule.pytorchvideo015.rawValue

    @Option(help: ArgumentHelp("Resampler for audio not at 16 kHz: torchaudio (exact) or swresample.", valueName: "name"))
    var resampler = AudioResampling.torchaudio.rawValue

    @Flag(name: .customLong("audio-logit-scale"), help: "Multiply audio embeddings by 20 as upstream ImageBind does (NExT-GPT does not).")
    var audioLogitScale = false

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @OptionGroup var checksums: CheckOption

    func validate() throws {
        if images.isEmpty && audios.isEmpty && videos.isEmpty && texts.isEmpty {
            throw ValidationError("give at least one --image, --audio, --video or --text")
        }
        if ClipSamplerRule(rawValue: clipSampler) == nil {
            throw ValidationError("--clip-sampler must be one of \(ClipSamplerRule.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if AudioResampling(rawValue: resampler) == nil {
            throw ValidationError("--resampler must be one of \(AudioResampling.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        try checksums.verify(model) { _ in [component] }
        let embeddings: Tensor
        let context = ExecutionContext.command(threads: threads), started = Date()
        do {
            let session = try ImageBindSession(path: model, component: component, mergesFile: bpe, context: context)
            let options = ImageBindSession.MediaOptions(clipSampler: ClipSamplerRule(rawValue: clipSampler)!,
                                                        resampling: AudioResampling(rawValue: resampler)!,
                                                        audioLogitScale: audioLogitScale)
            let bar = videos.isEmpty ? nil : ProgressBar(label: "video")
            embeddings = try session.embed(images: images, audios: audios, videos: videos, texts: texts, audio: options, progress: bar)
            bar?.finish()
        } catch let error as FormatError {
            throw Failure(error.description)
        } catch let error as ImageError {
            throw Failure(error.description)
        } catch let error as TokenizerError {
            throw Failure(error.description)
        } catch let error as ImageBindSessionError {
            throw Failure(error.description)
        } catch let error as AudioError {
            throw Failure(error.description)
        } catch let error as VideoError {
            throw Failure(error.description)
        } catch let error as ImageBindVideoTransform.TransformError {
            throw Failure(error.description)
        } catch let error as ImageBindModel.InputError {
            throw Failure(error.description)
        }
        let line = String(format: "embedded %d inputs in %.2f s; %@\n", embeddings.shape[0], Date().timeIntervalSince(started), closingTail(context))
        FileHandle.standardError.write(Data(line.utf8))
        let labels = images + audios + videos + texts.map { "\"\($0)\"" }
        let d = embeddings.shape[1], values = embeddings.values
        let rows = labels.indices.map { Array(values[($0 * d)..<(($0 + 1) * d)]) }
        let matrix = similarity ? ImageBindSession.cosineSimilarities(embeddings) : nil
        if let npy {
            do { try NPYWriter.write(values, shape: embeddings.shape, to: npy) } catch let error as FormatError {
                throw Failure(error.description)
            }
        }
        if json {
            var object: [String: Any] = ["inputs": images + audios + videos + texts, "embeddings": rows.map { $0.map(Double.init) }]
            if let matrix { object["similarity"] = matrix }
            print(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
            return
        }
        for (label, row) in zip(labels, rows) {
            let head = row.prefix(4).map { String(format: "%.4f", $0) }.joined(separator: ", ")
            print("\(label): [\(d)] \(head)\(d > 4 ? ", …" : "")")
        }
        if let matrix {
            print("cosine similarity:")
            for (i, label) in labels.enumerated() {
                print("  " + matrix[i].map { String(format: "%7.4f", $0) }.joined(separator: " ") + "  \(label)")
            }
        }
    }
}
