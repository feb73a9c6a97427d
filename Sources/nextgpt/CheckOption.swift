import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTFormats

/// `--check` on every command that runs a model: before anything is computed or written, the
/// header checksum and the CRC-32C of every tensor of the components this command reads are
/// recomputed (`Container.verifyChecksums(of:)`, the code behind `verify-file`); a damaged
/// component is refused naming the tensor. Damage in components the command does not read is
/// left to `verify-file`.
struct CheckOption: ParsableArguments {
    @Flag(help: ArgumentHelp("Before running, verify the header checksum and the CRC-32C of every tensor of the components this command reads; refuse a damaged one, naming the tensor.",
                             discussion: "Example: nextgpt generate -m nextgpt-q4_0.gguf -p \"Hello\" --check"))
    var check = false

    /// `used` gets the container's component list and names what the command reads, exactly or by
    /// a prefix before a dot (`sd15` covers `sd15.unet`).
    func verify(_ path: String, used: ([String]) -> [String]) throws {
        guard check else { return }
        let container: Container
        do { container = try Container(path: path) } catch let error as FormatError {
            throw Failure("--check: the container does not open (a damaged header?): \(error.description)")
        }
        let names = used(container.components)
        let checked = container.components.filter { component in names.contains { component == $0 || component.hasPrefix($0 + ".") } }
        let problems = try container.verifyChecksums(of: names)
        guard problems.isEmpty else {
            throw Failure("--check: \(path) is damaged, nothing was run:\n" + problems.map { "  corrupt: \($0)" }.joined(separator: "\n"))
        }
        let line = "--check: header and \(checked.isEmpty ? "no components" : checked.joined(separator: ", ")): checksums match\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}

extension CheckOption {
    /// What `run` and any-to-any chat may read: the LLM and NExT-GPT's modules, ImageBind when
    /// media come in, and every decoder the container holds (the reply decides which runs).
    static func anyToAny(media: Bool) -> ([String]) -> [String] {
        { _ in ["vicuna", "nextgpt"] + (media ? ["imagebind"] : []) + ["sd15", "audioldm", "zeroscope"] }
    }
}
