import Foundation
import XCTest
import NextGPTCore
import NextGPTFormats
import NextGPTTestSupport

/// A conversion killed with SIGKILL leaves `.<name>.tmp-<pid>`; the next writer to the same
/// destination removes it, and only it.
final class StaleTemporaryTests: XCTestCase {
    func testNextWriterRemovesTemporariesOfDeadProcessesOnly() throws {
        let dir = try scratchDirectory("stale")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier
        let files = [
            ".out.gguf.tmp-\(dead)",          // a killed run: removed
            ".out.gguf.tmp-1",                // a live process (init): kept
            ".out.gguf.tmp-\(getpid() + 0)",  // this process: replaced by the new writer's own file
            ".other.gguf.tmp-\(dead)",        // another destination: kept
            ".out.gguf.tmp-notapid",          // not ours: kept
        ]
        for name in files { FileManager.default.createFile(atPath: "\(dir)/\(name)", contents: Data([1, 2, 3])) }
        let writer = try GGUFWriter(destination: "\(dir)/out.gguf")
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        XCTAssertFalse(left.contains(files[0]), "\(left)")
        for kept in files.dropFirst() { XCTAssertTrue(left.contains(kept), "\(kept) missing from \(left)") }
        withExtendedLifetime(writer) {}
        // Removing again finds nothing.
        XCTAssertEqual(GGUFWriter.removeStaleTemporaries(of: "\(dir)/out.gguf"), [])
    }
}
