import Foundation
import NextGPTFuzzTargets
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// Every fuzz target's body (`FuzzTarget.run`, the same function the libFuzzer executables in
/// fuzz/ call) over its committed seed corpus (fuzz/corpus/TARGET) and a fixed set of
/// deterministic mutations of it: bit flips, truncations, splices, overwritten and duplicated
/// spans, extreme integers. The normal build has no sanitizer, so this finds traps and
/// runaway allocations, not silent memory errors; tools/fuzz/run.sh is the real campaign.
final class FuzzSeedCorpusTests: XCTestCase {
    /// Mutations per target (seeds run too): enough to walk every seed's header fields a few times.
    /// The two tokenizer targets build a whole tokenizer per input (≈ 25 ms each in a debug build
    /// on a loaded 2-core machine), so they get fewer to keep the suite's time in bounds.
    static func mutations(_ target: FuzzTarget) -> Int {
        switch target {
        case .sentencepiece, .bpe: return 500
        default: return 2000
        }
    }

    func testEveryTargetAcceptsASeedAndSurvivesItsMutations() throws {
        var report: [String] = []
        for target in FuzzTarget.allCases {
            let seeds = try Self.seeds(target)
            XCTAssertFalse(seeds.isEmpty, "\(target.rawValue): no seeds in fuzz/corpus/\(target.rawValue)")
            let accepted = seeds.filter { target.run($0) }.count
            // A body that refuses every seed tests nothing: a broken path or a changed parser API.
            XCTAssertGreaterThan(accepted, 0, "\(target.rawValue): no seed is accepted")
            var mutator = SeedMutator(seed: UInt64(target.rawValue.utf8.reduce(0) { $0 &* 31 &+ Int($1) }.magnitude), seeds: seeds)
            let started = Date()
            var acceptedMutations = 0
            let mutations = Self.mutations(target)
            for _ in 0..<mutations {
                if target.run(mutator.next()) { acceptedMutations += 1 }
            }
            report.append("\(target.rawValue): \(accepted)/\(seeds.count) seeds, \(acceptedMutations)/\(mutations) mutations accepted"
                          + String(format: " (%.1f s)", Date().timeIntervalSince(started)))
        }
        print(report.joined(separator: "\n"))
    }

    static func seeds(_ target: FuzzTarget) throws -> [[UInt8]] {
        let folder = "\(TestSupport.root)/fuzz/corpus/\(target.rawValue)"
        return try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map {
            Array(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/\($0)")))
        }
    }
}

/// libFuzzer-style mutations, reproducible from a seed (SplitMix64).
struct SeedMutator {
    var state: UInt64
    let seeds: [[UInt8]]

    init(seed: UInt64, seeds: [[UInt8]]) {
        state = seed
        self.seeds = seeds
    }

    mutating func random() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(random() % UInt64(n)) }

    mutating func next() -> [UInt8] {
        var bytes = seeds[below(seeds.count)]
        // One to three stacked mutations, as libFuzzer stacks them.
        for _ in 0...below(3) {
            guard !bytes.isEmpty else { bytes = [UInt8(truncatingIfNeeded: random())]; continue }
            let at = below(bytes.count)
            switch below(7) {
            case 0:  // flip one bit
                bytes[at] ^= 1 << UInt8(below(8))
            case 1:  // truncate
                bytes.removeSubrange(at...)
            case 2:  // splice: this one's head, another seed's tail
                let other = seeds[below(seeds.count)]
                bytes = Array(bytes[..<at]) + Array(other[below(other.count + 1)...])
            case 3:  // an extreme little-endian integer over 1, 2, 4 or 8 bytes
                let width = [1, 2, 4, 8][below(4)]
                let value: UInt64 = [0, .max, 0x7F, 0x80, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 40, UInt64(Int64.max)][below(9)]
                for i in 0..<min(width, bytes.count - at) { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
            case 4:  // duplicate a span in place
                let end = min(bytes.count, at + 1 + below(64))
                let span = Array(bytes[at..<end])
                bytes.insert(contentsOf: span, at: end)
            case 5:  // delete a span
                bytes.removeSubrange(at..<min(bytes.count, at + 1 + below(64)))
            default:  // overwrite a span with random bytes or a digit run (JSON numbers)
                let end = min(bytes.count, at + 1 + below(16))
                let digits = below(2) == 0
                for i in at..<end { bytes[i] = digits ? UInt8(ascii: "9") : UInt8(truncatingIfNeeded: random()) }
            }
        }
        return bytes
    }
}

/// Inputs the reference-bundle fuzz target found, kept byte for byte in Tests/Fixtures/fuzz-regressions.
final class ReferenceBundleFuzzRegressionTests: XCTestCase {
    /// `"version": 1e300` trapped in `Int(v)` before the version check.
    func testAHugeVersionIsRefused() throws {
        let path = "\(TestSupport.fixtures)/fuzz-regressions/reference-bundle-version-1e300.safetensors"
        XCTAssertThrowsError(try ReferenceBundle(path: path)) { error in
            XCTAssertTrue("\(error)".contains("version 1e+300 is not supported"), "\(error)")
        }
    }
}
