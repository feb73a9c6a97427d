import ArgumentParser
import Foundation
import NextGPTRuntime

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

    @Option(help: "System text before the first turn (Vicuna v0's default).")
    var system = "A chat between a curious human and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the human's questions."

    func run() throws {
        let (_, llm, tokenizer) = try options.load()
        let generator = LlamaGenerator(model: llm, capacity: 1024)
        var pending: [Int] = []  // the last sampled token, not yet fed
        var first = true
        while true {
            print("### Human: ", terminator: "")
            fflush(stdout)
            guard let line = readLine(), !line.trimmingCharacters(in: .whitespaces).isEmpty else { break }
            // Vicuna v0 (FastChat "v0"/NExT-GPT): "<system>\n\n### Human: <msg>\n### Assistant:".
            let turn = (first ? "\(system)\n\n" : "\n") + "### Human: \(line)\n### Assistant:"
            let ids = pending + tokenizer.encode(turn, addBOS: first).map(Int.init)
            first = false
            print("### Assistant:", terminator: "")
            let (_, stats, generated) = streamGeneration(generator, tokenizer: tokenizer, inputs: [.tokens(ids)], options: options,
                                                         extraStops: ["###"])
            pending = generated.last.map { [$0] } ?? []
            print("")
            report(stats)
        }
    }
}
