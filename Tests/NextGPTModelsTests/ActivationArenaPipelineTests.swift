import NextGPTKernels
import NextGPTTestSupport
import XCTest

/// Every model with all of its activations in arenas (`activationArenaMinimumBytes` 0, so the
/// tiny fixtures' tensors are served too) whose memory comes NaN-filled unless asked zeroed: a
/// kernel that reads its output before writing all of it or leaves part unwritten, or a block
/// handed to two live tensors, would show in the outputs, which must still pass their PyTorch references.
final class ActivationArenaPipelineTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    /// Runs the bundles with every tensor in poisoned arenas, then requires that the arenas named
    /// in `served` handed reused memory out (so the runs did not pass by never reusing any).
    private func verifyInPoisonedArenas(_ bundles: [(name: String, probes: Int)], served: [String],
                                        file: StaticString = #filePath, line: UInt = #line) throws {
        var context = ExecutionContext()
        context.activationArenaMinimumBytes = 0
        context.poisonsActivations = true
        let profile = OpProfile()
        context.profile = profile
        for bundle in bundles {
            try ModelsTestSupport.verify(bundle: bundle.name, in: Self.folder, minimumProbes: bundle.probes, context: context,
                                         file: file, line: line)
        }
        // "<name> activations: peak … MiB live (exact plan … MiB), M blocks mapped, R reused, U unmapped"
        var reused: [String: Int] = [:]
        for note in profile.allNotes where note.contains(" activations: ") {
            let name = String(note.prefix { $0 != " " })
            let words = note.split(separator: " ")
            if let i = words.firstIndex(of: "reused,"), let count = Int(words[i - 1]) { reused[name, default: 0] += count }
        }
        for name in served {
            XCTAssertGreaterThan(reused[name] ?? 0, 0, "the \(name) arenas reused no memory: \(reused)", file: file, line: line)
        }
    }

    func testStableDiffusionInPoisonedArenas() throws {
        try verifyInPoisonedArenas([("sd/txt2img-q8_0", 13), ("sd/txt2img-f32", 9)], served: ["denoising", "vae"])
    }

    func testAudioLDMInPoisonedArenas() throws {
        try verifyInPoisonedArenas([("audioldm/txt2audio-q8_0", 1)], served: ["denoising", "vae", "vocoder"])
    }

    func testZeroScopeInPoisonedArenas() throws {
        try verifyInPoisonedArenas([("sd/txt2video-zeroscope-q8_0", 1)], served: ["denoising", "vae"])
    }

    func testLlamaAndImageBindInPoisonedArenas() throws {
        try verifyInPoisonedArenas([("llama/vicuna-q8_0", 1), ("imagebind/imagebind-q8_0", 2), ("nextgpt/inference-f32", 9)],
                                   served: ["llama", "imagebind"])
    }
}
