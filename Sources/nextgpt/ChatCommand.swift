import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTLlama

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Interactive chat with the Vicuna v0 template (### Human: … ### Assistant:).",
        discussion: """
        Each turn continues the same KV cache. An empty line or end of input quits.

        Examples:
          nextgpt chat -m nextgpt-q4_0.gguf
          nextgpt chat -m llm.gguf --temp 0.7 --system "A chat between a curious human and an assistant."
        """)

    @OptionGroup var options: LlamaOptions

    @Option(help: "System text before the first turn (NExT-GPT uses none; FastChat's Vicuna v0 puts one here).")
    var system = ""

    func run() throws {
        let session = try options.load()
        let generator = LlamaGenerator(model: session.model, capacity: 1024)
        var pending: [Int] = []  // the last sampled token, not yet fed
        var first = true
        var endedWithStop = false
        while true {
            print("### Human: ", terminator: "")
            fflush(nil)  // every C stream: Swift 6 cannot check a reference to the stdout global
            guard let line = readLine(), !line.trimmingCharacters(in: .whitespaces).isEmpty else { break }
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
            report(generation.stats)
        }
    }
}
