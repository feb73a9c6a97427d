import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTAnyToAny
import NextGPTDiffusion
import NextGPTLlama
import NextGPTMedia
import NextGPTSessions

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Interactive chat with the Vicuna v0 template (### Human: … ### Assistant:).",
        discussion: """
        Each turn continues the same KV cache. An empty line or end of input quits.

        Lines `/image PATH`, `/audio PATH` and `/video PATH` attach a file to the next message and
        switch the chat to NExT-GPT any-to-any (as `nextgpt run`, with NExT-GPT's sampling; earlier
        turns are kept as the demo keeps them, their media encoded again): images the reply asks for
        are written to the --output folder as they come. `--any-to-any` starts in that mode.

        Examples:
          nextgpt chat -m nextgpt-q4_0.gguf
          nextgpt chat -m llm.gguf --temp 0.7 --system "A chat between a curious human and an assistant."
          nextgpt chat -m nextgpt-q4_0.gguf --any-to-any -o chat-out/    # then: /image cat.png ⏎ what is this?
        """)

    @OptionGroup var options: LlamaOptions

    @Option(help: "System text before the first turn (NExT-GPT uses none; FastChat's Vicuna v0 puts one here).")
    var system = ""

    @Flag(name: .customLong("any-to-any"), help: "Run every turn through NExT-GPT any-to-any (media in, images out).")
    var anyToAny = false

    @Option(name: .customLong("output"), help: ArgumentHelp("Folder for the images of any-to-any turns.", valueName: "dir"))
    var output = "nextgpt-chat"

    @Option(help: "Denoising steps of the image decoder in any-to-any turns.")
    var steps = 50

    func run() throws {
        if anyToAny { return try runAnyToAny(firstLine: nil) }
        let session = try options.load()
        let generator = session.makeGenerator(capacity: 1024)
        var pending: [Int] = []  // the last sampled token, not yet fed
        var first = true
        var endedWithStop = false
        while true {
            print("### Human: ", terminator: "")
            fflush(nil)  // every C stream: Swift 6 cannot check a reference to the stdout global
            guard let line = readLine(), !line.trimmingCharacters(in: .whitespaces).isEmpty else { break }
            if Self.mediaLine(line) != nil { return try runAnyToAny(firstLine: line) }
            // NExT-GPT's Vicuna v0 turns (demo_app.py): "### Human: <msg>\n### Assistant:" first; later
            // turns continue after the "###" that ended the answer with " Human: <msg>\n### Assistant:".
            let opening = first ? (system.isEmpty ? "" : "\(system)\n\n") + "### Human: " : (endedWithStop ? " Human: " : "\n### Human: ")
            let turn = opening + "\(line)\n### Assistant:"
            let ids = pending + session.tokenizer.encode(turn, addBOS: first).map(Int.init)
            first = false
            print("### Assistant:", terminator: "")
            let generation = options.stream(session, generator: generator, inputs: [.tokens(ids)], extraStops: ["###"])
            endedWithStop = generation.reason == .stopCondition
            pending = generation.ids.last.map { [$0] } ?? []
            print("")
            report(generation.stats, context: session.context)
        }
    }

    /// `/image P`, `/audio P`, `/video P` → (kind, path).
    static func mediaLine(_ line: String) -> (kind: String, path: String)? {
        for kind in ["image", "audio", "video"] where line.hasPrefix("/\(kind) ") {
            return (kind, String(line.dropFirst(kind.count + 2)).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    /// Any-to-any turns: media lines collect files for the next message; each message runs the
    /// whole of NExT-GPT again over the history, as the demo does.
    func runAnyToAny(firstLine: String?) throws {
        try options.checksums.verify(options.model, used: CheckOption.anyToAny(media: true))
        let session = NExTGPTSession(path: options.model, context: .command(threads: options.threads))
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        var history: [(question: String, answer: String)] = []
        var pending: [(kind: String, path: String)] = []
        var next = firstLine
        var imageCount = 0
        while true {
            let line: String
            if let queued = next { line = queued; next = nil } else {
                print(pending.isEmpty ? "### Human: " : "… ", terminator: "")
                fflush(nil)
                guard let read = readLine(), !read.trimmingCharacters(in: .whitespaces).isEmpty else { break }
                line = read
            }
            if let media = Self.mediaLine(line) {
                pending.append(media)
                continue
            }
            var request = NExTGPTRequest(text: line)
            request.images = pending.filter { $0.kind == "image" }.map(\.path)
            request.audios = pending.filter { $0.kind == "audio" }.map(\.path)
            request.videos = pending.filter { $0.kind == "video" }.map(\.path)
            request.history = history
            request.generation.maxNewTokens = options.n
            request.generation.sampling.seed = options.seed
            request.generation.cacheType = options.cacheType
            request.image.steps = steps
            print("### Assistant:", terminator: "")
            let result: NExTGPTResult
            do {
                result = try session.run(request) { piece in print(piece, terminator: ""); fflush(nil) }
            } catch let error as CustomStringConvertible where error is Error {
                print("")
                FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
                pending.removeAll()
                continue
            }
            print("")
            for image in result.images {
                let path = "\(output)/image-\(imageCount).png"
                try PNGImage.write(try VaeImageProcessor.images(from: image)[0], to: path, text: [("prompt", line), ("software", "nextgpt chat")])
                FileHandle.standardError.write(Data("wrote \(path)\n".utf8))
                imageCount += 1
            }
            for skipped in result.skippedOutputs {
                FileHandle.standardError.write(Data("\(skipped.modality.rawValue) output skipped: \(skipped.reason)\n".utf8))
            }
            // The demo keeps the question with its tags, so later turns encode the media again.
            history.append((question: NExTGPTSession.questionText(request), answer: result.reply.text))
            pending.removeAll()
        }
    }
}
