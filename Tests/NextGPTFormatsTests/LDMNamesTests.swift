import Foundation
import NextGPTCore
import NextGPTKernels
@testable import NextGPTFormats
import NextGPTTestSupport
import XCTest

/// Checks `LDMNames.split` against the pairs diffusers' own converters produce
/// (Tests/Fixtures/ldm-names/*.json, written by tools/fixtures/ldm_names.py).
final class LDMNamesTests: XCTestCase {
    /// One fixture: the original tensors and what diffusers makes of them.
    struct Fixture {
        struct Row {
            var original: String
            var originalShape: [Int]
            var component: String
            var diffusers: String
            var diffusersShape: [Int]
        }

        var rows: [Row]
        var dropped: [(name: String, shape: [Int])]
        var constants: [String: [LDMConstant]]
        var structure: [String: Any]

        /// Every tensor of the original file: the renamed ones and the dropped ones.
        var originalTensors: [(name: String, shape: [Int])] {
            rows.map { ($0.original, $0.originalShape) } + dropped
        }
    }

    static let fixtureDirectory = URL(fileURLWithPath: "\(TestSupport.fixtures)/ldm-names")

    static func load(_ name: String) throws -> Fixture {
        let url = fixtureDirectory.appendingPathComponent("\(name).json")
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let rows = try XCTUnwrap(json["tensors"] as? [[Any]]).map { row in
            Fixture.Row(original: row[0] as! String, originalShape: row[1] as! [Int], component: row[2] as! String,
                        diffusers: row[3] as! String, diffusersShape: row[4] as! [Int])
        }
        let dropped = try XCTUnwrap(json["dropped"] as? [[Any]]).map { ($0[0] as! String, $0[1] as! [Int]) }
        var constants: [String: [LDMConstant]] = [:]
        for row in try XCTUnwrap(json["constants"] as? [[Any]]) {
            constants[row[0] as! String, default: []].append(
                LDMConstant(name: row[1] as! String, shape: row[2] as! [Int], value: Float(row[3] as! Double)))
        }
        return Fixture(rows: rows, dropped: dropped, constants: constants,
                       structure: try XCTUnwrap(json["structure"] as? [String: Any]))
    }

    /// A one-byte file every fake tensor points at; only names and shapes matter here.
    static let file: RandomAccessFile = {
        let path = NSTemporaryDirectory() + "ldm-names-\(getpid()).bin"
        precondition(FileManager.default.createFile(atPath: path, contents: Data([0])))
        return try! RandomAccessFile(path: path)
    }()

    static func checkpoint(_ tensors: [(name: String, shape: [Int])]) -> Checkpoint {
        Checkpoint(tensors: tensors.map { SourceTensor(name: $0.name, dtype: .f16, shape: $0.shape, file: file, byteOffset: 0) },
                   files: [file.path])
    }

    /// Splits the fixture's original tensors (in the given order) and compares with diffusers' result.
    func check(_ name: String, reorder: ([(name: String, shape: [Int])]) -> [(name: String, shape: [Int])] = { $0 },
               file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try Self.load(name)
        let split = try LDMNames.split(Self.checkpoint(reorder(fixture.originalTensors)))

        let expectedComponents = Set(fixture.rows.map(\.component))
        XCTAssertEqual(Set(split.components.keys), expectedComponents, "\(name): components", file: file, line: line)
        for component in expectedComponents {
            let expected = fixture.rows.filter { $0.component == component }
            let tensors = split.components[component]?.tensors ?? []
            XCTAssertEqual(tensors.count, expected.count, "\(name) \(component): tensor count", file: file, line: line)
            let got = Dictionary(tensors.map { ($0.originalName, $0) }, uniquingKeysWith: { a, _ in a })
            var mismatches = 0
            for row in expected {
                guard let tensor = got[row.original] else {
                    XCTFail("\(name): \(row.original) missing from \(component)", file: file, line: line)
                    mismatches += 1
                    continue
                }
                if tensor.name != row.diffusers || tensor.shape != row.diffusersShape {
                    XCTFail("\(name): \(row.original) → \(tensor.name) \(tensor.shape), diffusers: \(row.diffusers) \(row.diffusersShape)",
                            file: file, line: line)
                    mismatches += 1
                }
                if mismatches > 20 { return }
            }
        }
        XCTAssertEqual(Set(split.dropped), Set(fixture.dropped.map(\.name)), "\(name): dropped", file: file, line: line)
        XCTAssertEqual(split.dropped.count, fixture.dropped.count, "\(name): dropped count", file: file, line: line)
        XCTAssertEqual(split.constants, fixture.constants, "\(name): constants", file: file, line: line)

        if let unet = fixture.structure["unet"] as? [String: Any] {
            XCTAssertEqual(split.unet, LDMUNetStructure(
                levels: unet["levels"] as! Int, layersPerBlock: unet["layers_per_block"] as! Int,
                downAttention: unet["attention"] as! [Bool], upAttention: unet["up_attention"] as! [Bool]),
                           "\(name): UNet structure", file: file, line: line)
        } else {
            XCTAssertNil(split.unet, file: file, line: line)
        }
        if let vae = fixture.structure["vae"] as? [String: Any] {
            XCTAssertEqual(split.vae, LDMVAEStructure(levels: vae["levels"] as! Int, layersPerBlock: vae["layers_per_block"] as! Int),
                           "\(name): VAE structure", file: file, line: line)
        } else {
            XCTAssertNil(split.vae, file: file, line: line)
        }
    }

    // MARK: Cases from diffusers' converters

    func testStableDiffusion15() throws {
        try check("sd15")
    }

    func testStableDiffusion15InFileOrderReversed() throws {
        try check("sd15", reorder: { $0.reversed() })
    }

    func testTinyWithOldCLIPNames() throws {
        try check("tiny")
    }

    func testThreeLevelsWithClassLabels() throws {
        try check("three-level", reorder: { $0.shuffled() })
    }

    func testClassProjection() throws {
        try check("unet-class-projection")
    }

    func testAudioLDM() throws {
        try check("audioldm-l-full")
    }

    func testStableDiffusion15BlockTypes() throws {
        let split = try LDMNames.split(Self.checkpoint(try Self.load("sd15").originalTensors))
        XCTAssertEqual(split.unet?.downBlockTypes, ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"])
        XCTAssertEqual(split.unet?.upBlockTypes, ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"])
        let vae = try XCTUnwrap(split[LDMNames.vae])
        XCTAssertEqual(vae["decoder.mid_block.attentions.0.to_out.0.weight"]?.shape, [512, 512])
        XCTAssertEqual(vae["decoder.mid_block.attentions.0.to_out.0.weight"]?.originalName,
                       "first_stage_model.decoder.mid.attn_1.proj_out.weight")
    }

    // MARK: Errors

    /// The SD 1.5 fixture with some tensors added or replaced.
    func sd15(adding extra: [(name: String, shape: [Int])], removing: Set<String> = []) throws -> Checkpoint {
        Self.checkpoint(try Self.load("sd15").originalTensors.filter { !removing.contains($0.name) } + extra)
    }

    func assertFormatError(_ checkpoint: Checkpoint, tensor: String, mentioning text: String,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try LDMNames.split(checkpoint), file: file, line: line) { error in
            guard let error = error as? FormatError else {
                return XCTFail("not a FormatError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.file, Self.file.path, file: file, line: line)
            XCTAssertEqual(error.tensor, tensor, file: file, line: line)
            XCTAssertTrue(error.description.contains(text), "\(error.description) lacks '\(text)'", file: file, line: line)
        }
    }

    func testUnknownUNetKey() throws {
        let key = "model.diffusion_model.input_blocks.1.0.in_layers.1.weight"
        assertFormatError(try sd15(adding: [(key, [320])]), tensor: key, mentioning: "in_layers.0|2")
    }

    func testUnknownAttentionKey() throws {
        let key = "model.diffusion_model.output_blocks.5.1.transformer_blocks.0.attn3.to_q.weight"
        assertFormatError(try sd15(adding: [(key, [640, 640])]), tensor: key, mentioning: "SpatialTransformer")
    }

    func testAttentionWhereTheBlockHasNone() throws {
        // input_blocks.10 belongs to the last level, which has no attentions in SD 1.5
        let key = "model.diffusion_model.input_blocks.10.1.proj_in.weight"
        assertFormatError(try sd15(adding: [(key, [1280, 1280, 1, 1])]), tensor: key, mentioning: "down level 3 has attention on some resnets only")
    }

    func testMissingInputBlock() throws {
        let fixture = try Self.load("sd15")
        let removing = Set(fixture.rows.map(\.original).filter { $0.hasPrefix("model.diffusion_model.input_blocks.4.") })
        XCTAssertThrowsError(try LDMNames.split(try sd15(adding: [], removing: removing))) { error in
            XCTAssertTrue("\(error)".contains("input_blocks.4 is missing"), "\(error)")
        }
    }

    func testUnknownVAEKey() throws {
        let key = "first_stage_model.encoder.down.1.attn.0.q.weight"
        assertFormatError(try sd15(adding: [(key, [256, 256, 1, 1])]), tensor: key, mentioning: "no diffusers AutoencoderKL equivalent")
        let other = "first_stage_model.decoder.mid.attn_1.qkv.weight"
        assertFormatError(try sd15(adding: [(other, [1536, 512, 1, 1])]), tensor: other, mentioning: "norm|q|k|v|proj_out")
    }

    func testUnknownTextEncoderKey() throws {
        let key = "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.qkv_proj.weight"
        assertFormatError(try sd15(adding: [(key, [2304, 768])]), tensor: key, mentioning: "CLIP text-encoder key")
    }

    func testUnknownTopLevelKey() throws {
        let key = "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight"
        assertFormatError(try sd15(adding: [(key, [768])]), tensor: key, mentioning: "not part of a Stable Diffusion 1.x or AudioLDM checkpoint")
    }

    func testOpenCLIPIsRefused() throws {
        let key = "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight"
        assertFormatError(try sd15(adding: [(key, [3072, 1024])]), tensor: key, mentioning: "Stable Diffusion 2.x")
    }

    func testDuplicateTargetName() throws {
        // the same CLIP weight with and without `text_model.`
        let key = "cond_stage_model.transformer.final_layer_norm.weight"
        assertFormatError(try sd15(adding: [(key, [768])]), tensor: key, mentioning: "as does 'cond_stage_model.transformer.text_model.final_layer_norm.weight'")
    }

    func testWeightNormalisedVocoderIsRefused() throws {
        let fixture = try Self.load("audioldm-l-full")
        let key = "first_stage_model.vocoder.ups.0.weight_g"
        assertFormatError(Self.checkpoint(fixture.originalTensors + [(key, [1024, 1, 1])]), tensor: key, mentioning: "weight_g")
    }

    func testNothingRecognised() {
        XCTAssertThrowsError(try LDMNames.split(Self.checkpoint([("betas", [1000])]))) { error in
            XCTAssertTrue("\(error)".contains("no Stable Diffusion / AudioLDM tensors"), "\(error)")
        }
    }

    func testReadFromSafetensorsFile() throws {
        // the tiny case written as a real safetensors file (zeros), read by SafetensorsFile, then split
        let fixture = try Self.load("tiny")
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var offset = 0
        for (name, shape) in fixture.originalTensors {
            let bytes = shape.reduce(2, *)
            header[name] = ["dtype": "F16", "shape": shape, "data_offsets": [offset, offset + bytes]]
            offset += bytes
        }
        let json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        var data = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Data($0) }
        data.append(json)
        data.append(Data(count: offset))
        let path = try scratchDirectory("ldm-names") + "/tiny.safetensors"
        try data.write(to: URL(fileURLWithPath: path))

        let split = try LDMNames.split(try SafetensorsFile.read(path: path))
        let vae = try XCTUnwrap(split[LDMNames.vae])
        let attention = try XCTUnwrap(vae["encoder.mid_block.attentions.0.to_q.weight"])
        XCTAssertEqual(attention.shape, [64, 64])
        XCTAssertEqual(attention.originalName, "first_stage_model.encoder.mid.attn_1.q.weight")
        XCTAssertEqual(try attention.readBytes().count, 64 * 64 * 2)
        XCTAssertEqual(split[LDMNames.textEncoder]?["text_model.final_layer_norm.weight"]?.originalName,
                       "cond_stage_model.transformer.final_layer_norm.weight")
        XCTAssertEqual(split.components[LDMNames.unet]?.tensors.count, fixture.rows.filter { $0.component == "unet" }.count)
        XCTAssertEqual(split.components[LDMNames.unet]?.files, [path])
    }

    func testUNetOnly() throws {
        // a file with just the UNet (and an EMA copy) gives just the UNet
        let fixture = try Self.load("tiny")
        let split = try LDMNames.split(Self.checkpoint(fixture.originalTensors.filter {
            $0.name.hasPrefix("model.diffusion_model.") || $0.name == "betas"
        }))
        XCTAssertEqual(Array(split.components.keys), [LDMNames.unet])
        XCTAssertEqual(split.dropped, ["betas"])
        XCTAssertNil(split.vae)
    }
}
