import ArgumentParser
import Foundation
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with the container's LLaMA (Vicuna) component.",
        discussion: """
        Tokens stream to stdout; prefill and decode speed and peak memory go to stderr at the end.
        The NExT-GPT LoRA that `convert --delta` stored in the container is applied unless
        --no-delta-lora is given.

        Examples:
          nextgpt generate -m nextgpt-q4_0.gguf -p "### Human: What is a cat? ### Assistant:" --stop "###"
          nextgpt generate -m llm.gguf -p "Once upon a time" -n 64 --temp 0
          nextgpt generate -m llm.gguf -p "Hello" --lora my-adapter:0.8 --lora-mode runtime --threads 2
          nextgpt generate -m nextgpt-q4_0.gguf -p "Hello" --check   # verify vicuna's and nextgpt's checksums first
        """)

    @OptionGroup var options: LlamaOptions

    @Option(name: .shortAndLong, help: "Prompt (a beginning-of-sequence token is added).")
    var prompt: String

    func run() throws {
        let session = try options.load()
        let ids = session.tokenizer.encode(prompt, addBOS: true).map(Int.init)
        let generator = session.makeGenerator(capacity: ids.count + options.n + 1)
        print(prompt, terminator: "")
        let generation = options.stream(session, generator: generator, inputs: [.tokens(ids)])
        print("")
        report(generation.stats, context: session.context)
    }
}

func report(_ stats: GenerationStats, context: ExecutionContext) {
    let line = String(format: "prefill %d tokens %.2f tok/s, decode %d tokens %.2f tok/s, first token %.0f ms; %@\n",
                      stats.promptTokens, stats.prefillTokensPerSecond, stats.generatedTokens, stats.decodeTokensPerSecond,
                      stats.firstTokenSeconds * 1000, closingTail(context))
    FileHandle.standardError.write(Data(line.utf8))
}
