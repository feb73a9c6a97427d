import ArgumentParser
import Foundation
import NextGPTCore
import NextGPTFormats

struct VerifyFileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-file",
        abstract: "Recompute every tensor's checksum and name what is corrupt.",
        discussion: """
        Exits 0 when every tensor matches its stored CRC-32C, the header (metadata and tensor records) its\
        nextgpt.header_crc32c and all padding is zero; 1 otherwise.

        Example:
          nextgpt verify-file nextgpt-q4_0.gguf
        """)

    @Argument(help: "Container file.")
    var file: String

    func run() throws {
        let container: Container
        do { container = try Container(path: file) } catch let error as FormatError {
            // A header too damaged to parse: the error names the field and offset.
            print("corrupt: header: \(error.description)")
            throw ExitCode(1)
        }
        let start = Date()
        let problems = try container.verifyChecksums()
        let seconds = Date().timeIntervalSince(start)
        if problems.isEmpty {
            print("\(file): \(container.file.tensors.count) tensors in \(container.components.count) components, all checksums match (\(String(format: "%.2f", seconds)) s)")
            return
        }
        for p in problems { print("corrupt: \(p)") }
        print("\(file): \(problems.count) problem(s)")
        throw ExitCode(1)
    }
}
