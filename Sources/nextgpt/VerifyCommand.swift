import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTVerify

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the runtime against PyTorch: run a reference bundle's probes on a container.",
        discussion: """
        A reference bundle is a safetensors file of inputs and PyTorch outputs whose __metadata__
        key nextgpt.reference lists probes (formats/reference-bundle.md). For every probe output this
        prints the largest absolute error, the relative L2 error ‖ours − ref‖/‖ref‖, the cosine
        similarity and pass/fail against the probe's tolerance. Exits 0 when every probe passes,
        1 otherwise.

        Calls: \(VerifyCalls.allCalls.map(\.name).joined(separator: ", "))

        Examples:
          nextgpt verify -m nextgpt-q4_0.gguf --reference vicuna-ops.safetensors
          nextgpt verify -m ops.gguf --reference ops.safetensors --json | jq '.probes[] | select(.passed | not)'
          nextgpt verify -m ops.gguf --reference ops.safetensors --dump ours.safetensors
        """)

    @Option(name: [.customShort("m"), .customLong("model")], help: "Container file.")
    var model: String

    @Option(help: "Reference bundle (.safetensors).")
    var reference: String

    @Flag(help: "Print machine-readable JSON.")
    var json = false

    @Option(help: "Write our outputs, under the bundle's expect names, to this safetensors file.")
    var dump: String?

    func run() throws {
        let report: VerifyReport
        do {
            report = try Verifier.run(containerPath: model, referencePath: reference, dumpPath: dump,
                                      context: .command(threads: nil))
        } catch let error as FormatError {
            throw Failure(error.description)
        }
        if json {
            print(try report.jsonString())
        } else {
            for line in report.lines { print(line) }
            if let dump { print("our outputs written to \(dump)") }
        }
        if !report.passed { throw ExitCode(1) }
    }
}
