import Foundation
import NextGPTDiffusion
import NextGPTFormats
import NextGPTTestSupport
import XCTest

/// `TorchGenerator.randn` against torch.randn streams (tools/references/make_scheduler_cases.py):
/// every float must be bit-identical.
final class TorchGeneratorTests: XCTestCase {
    static var url: URL { URL(fileURLWithPath: "\(TestSupport.references)/torch-randn.safetensors") }

    func testRandnStreamsAreBitIdenticalToTorch() throws {
        let file = try SafetensorsFile.read(path: Self.url.path)
        guard let json = file.metadata["cases"],
              let cases = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]]
        else { return XCTFail("torch-randn.safetensors has no cases") }
        var total = 0, differing = 0
        for c in cases {
            let seed = (c["seed"] as! NSNumber).uint64Value
            let sequence = c["sequence"] as! String
            let shapes = (c["shapes"] as! [[NSNumber]]).map { $0.map(\.intValue) }
            var generator = TorchGenerator(seed: seed)
            for (call, shape) in shapes.enumerated() {
                let name = "\(seed).\(sequence).\(call)"
                guard let source = file[name] else { return XCTFail("missing \(name)") }
                let expect = try source.readFloats()
                let ours = generator.randn(shape)
                XCTAssertEqual(ours.shape, shape, name)
                let bad = zip(ours.values, expect).filter { $0.bitPattern != $1.bitPattern }.count
                total += expect.count
                differing += bad
                XCTAssertEqual(bad, 0, "\(name): \(bad) of \(expect.count) floats differ")
            }
        }
        print("RANDN \(total) floats compared, \(differing) differ")
    }

    func testManualSeedTakesTheLow32BitsForTheStateButKeepsTheSeed() {
        var a = TorchGenerator(seed: (1 << 32) + 5), b = TorchGenerator(seed: 5)
        XCTAssertEqual(a.randn([20]).values, b.randn([20]).values)
        XCTAssertEqual(a.seed, (1 << 32) + 5)
    }
}
