import XCTest
@testable import NextGPTConvert
import NextGPTCore
import NextGPTKernels
import NextGPTFormats
import NextGPTTestSupport

/// Bad input gives an error that names the file and the tensor, and never a file under the output name.
final class ConvertErrorTests: XCTestCase {
    let fx = TestSupport.fixtures
    var dir = ""
    override func setUp() { dir = TestSupport.temporaryDirectory("convert") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A LLaMA folder whose weights are the fixture's, rewritten as one safetensors file after `edit`.
    func llamaFolder(_ edit: (inout [(String, [Int], [Float])]) -> Void) throws -> String {
        let folder = "\(dir)/llama-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for file in ["config.json", "tokenizer.model"] {
            try FileManager.default.copyItem(atPath: "\(fx)/vicuna/\(file)", toPath: "\(folder)/\(file)")
        }
        var tensors = try HFWeights.read(folder: "\(fx)/vicuna").tensors.map { ($0.name, $0.shape, try $0.readFloats()) }
        edit(&tensors)
        ConvertSupport.writeSafetensors(tensors, to: "\(folder)/model.safetensors")
        return folder
    }

    func expectError(_ folder: String, _ fragments: [String], line: UInt = #line) {
        XCTAssertThrowsError(try LlamaComponent.load(folder: folder, delta: nil, mergeDeltaLora: false), line: line) { error in
            let text = "\(error)"
            XCTAssertTrue(error is FormatError, text, line: line)
            for fragment in fragments { XCTAssertTrue(text.contains(fragment), "'\(text)' lacks '\(fragment)'", line: line) }
        }
    }

    func testMissingUnexpectedAndMisshapedTensorsAreNamed() throws {
        let missing = try llamaFolder { $0.removeAll { $0.0 == "model.layers.1.mlp.up_proj.weight" } }
        expectError(missing, ["model.layers.1.mlp.up_proj.weight", "missing"])
        let unexpected = try llamaFolder { $0.append(("model.layers.0.mlp.extra.weight", [2], [1, 2])) }
        expectError(unexpected, ["model.safetensors", "model.layers.0.mlp.extra.weight", "unexpected"])
        let misshaped = try llamaFolder { tensors in
            let i = tensors.firstIndex { $0.0 == "model.layers.0.self_attn.k_proj.weight" }!
            tensors[i].1 = [tensors[i].1[1], tensors[i].1[0] / 2]
            tensors[i].2 = Array(tensors[i].2.prefix(tensors[i].1.reduce(1, *)))
        }
        expectError(misshaped, ["model.safetensors", "k_proj.weight", "has shape"])
    }

    func testShardIndexPointingAtAMissingKeyIsNamed() throws {
        let folder = "\(dir)/sharded"
        try FileManager.default.copyItem(atPath: "\(fx)/vicuna", toPath: folder)
        let indexPath = "\(folder)/pytorch_model.bin.index.json"
        var index = try JSONFile.object(indexPath)
        var map = index["weight_map"] as! [String: String]
        map["model.layers.0.ghost.weight"] = "pytorch_model-00001-of-00002.bin"
        index["weight_map"] = map
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
        expectError(folder, ["model.layers.0.ghost.weight", "missing"])
    }

    func testFailedConversionLeavesNoFile() throws {
        // A source whose bytes vanish after planning: the error surfaces mid-stream.
        let folder = try llamaFolder { _ in }
        var plan = ConversionPlan()
        plan.components = try LlamaComponent.load(folder: folder, delta: nil, mergeDeltaLora: false)
        let weights = "\(folder)/model.safetensors"
        let handle = FileHandle(forWritingAtPath: weights)!
        try handle.truncate(atOffset: 4096)
        try handle.close()
        let out = "\(dir)/out.gguf"
        XCTAssertThrowsError(try Converter.convert(plan, options: ConversionOptions(policy: QuantizationPolicy(type: .q8_0)), to: out)) { error in
            XCTAssertTrue("\(error)".contains("model.safetensors"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains("out.gguf") }, [])
    }

    /// The real CLI, killed while it writes: the destination never appears.
    func testKilledConversionLeavesNoDestination() throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nextgpt").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            return XCTFail("build the nextgpt product first (swift build --build-tests builds it): \(binary)")
        }
        // ~64 MB of f32 weights so the conversion runs long enough to be interrupted mid-write.
        let folder = try llamaFolder { tensors in
            let hidden = tensors.first { $0.0 == "model.norm.weight" }!.1[0]
            let rows = 64_000_000 / 4 / hidden
            let i = tensors.firstIndex { $0.0 == "model.embed_tokens.weight" }!
            tensors[i] = ("model.embed_tokens.weight", [rows, hidden], [Float](repeating: 0.5, count: rows * hidden))
            let h = tensors.firstIndex { $0.0 == "lm_head.weight" }!
            tensors[h] = ("lm_head.weight", [rows, hidden], [Float](repeating: 0.25, count: rows * hidden))
        }
        for sig in [SIGTERM, SIGKILL] {
            let out = "\(dir)/killed-\(sig).gguf"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["convert", "--vicuna", folder, "--type", "q4_K", "-o", out]
            process.standardError = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let temp = "\(dir)/.killed-\(sig).gguf.tmp-\(process.processIdentifier)"
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: temp) && process.isRunning && Date() < deadline { usleep(2000) }
            XCTAssertTrue(process.isRunning, "conversion finished before it could be interrupted; make the input bigger")
            usleep(50_000)
            kill(process.processIdentifier, sig)
            process.waitUntilExit()
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "signal \(sig)")
            if sig == SIGTERM { XCTAssertFalse(FileManager.default.fileExists(atPath: temp), "SIGTERM removes the temporary file") }
        }
    }
}
