import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia
import NextGPTSessions
import NextGPTTokenizers

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "ImageBind embeddings of images and texts, and their cosine similarities.",
        discussion: """
        Images are pre-processed as imagebind/data.py does (Pillow's bicubic resize to 224, centre
        crop, CLIP normalisation). Texts need ImageBind's BPE merges file (bpe_simple_vocab_16e6.txt,
        decompressed), which the checkpoint does not carry. Audio and video inputs are not read yet.

        Examples:
          nextgpt embed -m nextgpt-q8_0.gguf --image cat.jpg --image dog.png
          nextgpt embed -m nextgpt-q8_0.gguf --image cat.jpg --text "a cat" --text "a dog" --bpe bpe_simple_vocab_16e6.txt --similarity
          nextgpt embed -m nextgpt-q8_0.gguf --image cat.jpg --json > cat.json
        """)

    @Option(name: .shortAndLong, help: ArgumentHelp("Container with an ImageBind component.", valueName: "file.gguf"))
    var model: String

    @Option(help: "The ImageBind component of the container.")
    var component = "imagebind"

    @Option(name: .customLong("image"), help: ArgumentHelp("Image file (PNG, JPEG, …); repeatable.", valueName: "path"))
    var images: [String] = []

    @Option(name: .customLong("text"), help: ArgumentHelp("Text; repeatable.", valueName: "text"))
    var texts: [String] = []

    @Option(help: ArgumentHelp("ImageBind's BPE merges file (bpe_simple_vocab_16e6.txt[.gz]), for --text when the container stores none.", valueName: "path"))
    var bpe: String?

    @Flag(help: "Print the cosine similarity of every pair of inputs.")
    var similarity = false

    @Flag(help: "Print the embeddings as JSON ({\"inputs\": [...], \"embeddings\": [[...]]}, and \"similarity\" with --similarity).")
    var json = false

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    func validate() throws {
        if images.isEmpty && texts.isEmpty { throw ValidationError("give at least one --image or --text") }
    }

    func run() throws {
        let embeddings: Tensor
        do {
            let session = try ImageBindSession(path: model, component: component, mergesFile: bpe,
                                               context: .command(threads: threads))
            embeddings = try session.embed(images: images, texts: texts)
        } catch let error as FormatError {
            throw Failure(error.description)
        } catch let error as ImageError {
            throw Failure(error.description)
        } catch let error as TokenizerError {
            throw Failure(error.description)
        } catch let error as ImageBindSessionError {
            throw Failure(error.description)
        }
        let labels = images + texts.map { "\"\($0)\"" }
        let d = embeddings.shape[1], values = embeddings.values
        let rows = labels.indices.map { Array(values[($0 * d)..<(($0 + 1) * d)]) }
        let matrix = similarity ? ImageBindSession.cosineSimilarities(embeddings) : nil
        if json {
            var object: [String: Any] = ["inputs": images + texts, "embeddings": rows.map { $0.map(Double.init) }]
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
