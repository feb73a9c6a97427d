// The malicious-pickle corpus (Tests/Fixtures/malicious-pickles, written by
//
//     tools/.venv/bin/python tools/hardening/make_pickle_corpus.py [--live-check]
//
// whose --live-check proves that Python's own unpickler runs the live payloads: each creates
// /tmp/nextgpt-pickle-marker-<name>). Every payload, raw and wrapped as a torch.save zip and a
// legacy torch file, goes through the pickle machine, the checkpoint reader and the converter's
// entry points: each must be refused with a FormatError naming the global or opcode, and no
// marker may appear.
import Foundation
import XCTest
@testable import NextGPTConvert
@testable import NextGPTFormats
import NextGPTCore
import NextGPTTestSupport

final class MaliciousPickleCorpusTests: XCTestCase {
    struct Payload {
        var name: String
        var zipExtension: String
        var refusal: String
    }

    static let corpus = "\(TestSupport.fixtures)/malicious-pickles"
    static let markerPrefix = "/tmp/nextgpt-pickle-marker-"

    func payloads() throws -> [Payload] {
        let text = try String(contentsOfFile: "\(Self.corpus)/manifest.tsv", encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            let fields = $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return Payload(name: fields[0], zipExtension: fields[1], refusal: fields[2])
        }
    }

    func markers() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []
        return names.filter { "/tmp/\($0)".hasPrefix(Self.markerPrefix) }
    }

    /// `body` must throw a FormatError for `path` whose text holds `refusal`.
    func expectRefusal(_ what: String, _ path: String, _ refusal: String, line: UInt = #line,
                       _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("\(what): \(path) was accepted", line: line)
        } catch let error as FormatError {
            XCTAssertEqual(error.file, path, "\(what)", line: line)
            XCTAssertTrue(error.description.contains(refusal), "\(what): '\(error.description)' lacks '\(refusal)'", line: line)
        } catch {
            XCTFail("\(what): \(path): not a FormatError: \(error)", line: line)
        }
    }

    func testEveryPayloadIsRefusedNamingTheGlobalAndNothingRuns() throws {
        for stale in markers() { try? FileManager.default.removeItem(atPath: "/tmp/\(stale)") }
        let payloads = try payloads()
        XCTAssertGreaterThanOrEqual(payloads.count, 30)
        var refused = 0
        for payload in payloads {
            let base = "\(Self.corpus)/\(payload.name)"
            let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: base + ".pkl")))
            expectRefusal("pickle machine", base + ".pkl", payload.refusal) {
                _ = try TorchUnpickler(bytes: raw, path: base + ".pkl", label: "data.pkl").load()
            }
            // A bare pickle is not a checkpoint: refused before any opcode runs.
            expectRefusal("sniffer", base + ".pkl", "accepted formats") { _ = try CheckpointFile.read(path: base + ".pkl") }
            for (file, refusal) in [(base + payload.zipExtension, payload.refusal), (base + ".legacy.pt", payload.refusal)] {
                expectRefusal("checkpoint reader", file, refusal) { _ = try CheckpointFile.read(path: file) }
                expectRefusal("convert --delta", file, refusal) { _ = try NextGPTDelta(path: file) }
                expectRefusal("convert --imagebind", file, refusal) { _ = try ImageBindComponent.load(path: file) }
            }
            refused += 1
        }
        XCTAssertEqual(refused, payloads.count)
        XCTAssertEqual(markers(), [], "a payload ran")
    }

    /// The zip form really is a torch.save archive and the legacy form a legacy file: the
    /// refusal comes from the pickle inside, at the opcode, not from the container.
    func testRefusalsComeFromThePickleInside() throws {
        for payload in try payloads().prefix(5) {
            let zip = "\(Self.corpus)/\(payload.name)\(payload.zipExtension)"
            XCTAssertEqual(try CheckpointFile.kind(path: zip), .torchZip)
            XCTAssertThrowsError(try CheckpointFile.read(path: zip)) {
                XCTAssertTrue("\($0)".contains("archive/data.pkl"), "\($0)")
                XCTAssertTrue("\($0)".contains("at pickle offset"), "\($0)")
            }
            let legacy = "\(Self.corpus)/\(payload.name).legacy.pt"
            XCTAssertEqual(try CheckpointFile.kind(path: legacy), .torchLegacy)
            XCTAssertThrowsError(try CheckpointFile.read(path: legacy)) {
                XCTAssertTrue("\($0)".contains("legacy torch file: object"), "\($0)")
            }
        }
    }
}
