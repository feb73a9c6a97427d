import Foundation
import NextGPTFormats
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia
import NextGPTSessions
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// ImageBind's video input: `load_and_transform_video_data` against pytorchvideo 0.1.5 and
/// data.py (bundles by tools/references/bundle_imagebind_video.py), and video files to embeddings.
final class ImageBindVideoTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")
    static let bundles = ["landscape-40x30", "portrait-30x44", "short-36x36", "long-24x16", "long-24x16-main",
                          "ntsc-32x24", "downscale-240x228"]

    func testBundlesMatchPytorchvideoUnderBothRules() throws {
        var probes: [String] = []
        for name in Self.bundles {
            let report = try ModelsTestSupport.verify(bundle: "imagebind/preprocess-video-\(name)", in: Self.folder)
            for result in report.results {
                probes.append(result.probe.name)
                XCTAssertEqual(result.outputs.count, 3, result.probe.name)
                for output in result.outputs {
                    print("preprocess-video-\(name) \(result.probe.name).\(output.output): rel L2 \(output.relL2), max abs \(output.maxAbs)")
                    XCTAssertLessThanOrEqual(output.relL2, 1e-4, "\(result.probe.name).\(output.output)")
                }
            }
        }
        XCTAssertEqual(Set(probes), ["landscape_40x30", "portrait_30x44", "short_36x36", "long_24x16", "long_24x16_main",
                                     "ntsc_32x24", "downscale_240x228"])
    }

    func testClipFramesFollowGetClipAndTheRule() throws {
        // 11 s at 10 fps: 0.1.5 spaces starts by 9/5 s, main by 9/4 s.
        XCTAssertEqual(try ImageBindVideoTransform.clipFrameIndices(frameCount: 110, fps: 10),
                       [[0, 19], [18, 37], [36, 55], [54, 73], [72, 91]])
        XCTAssertEqual(try ImageBindVideoTransform.clipFrameIndices(frameCount: 110, fps: 10, rule: .pytorchvideoMain),
                       [[0, 19], [23, 42], [45, 64], [68, 87], [90, 109]])
        // Shorter than one clip: every clip is the whole video.
        XCTAssertEqual(try ImageBindVideoTransform.clipFrameIndices(frameCount: 15, fps: 12), Array(repeating: [0, 14], count: 5))
        XCTAssertThrowsError(try ImageBindVideoTransform.clipFrameIndices(frameCount: 3, fps: 0.25)) {
            XCTAssertTrue("\($0)".contains("holds no frame"), "\($0)")
        }
        XCTAssertTrue(ImageBindVideoTransform.shortSideScaled(height: 64, width: 96) == (224, 336))
        XCTAssertTrue(ImageBindVideoTransform.shortSideScaled(height: 44, width: 30) == (328, 224))
    }

    func testVideoFileEmbeddingMatchesPyTorch() throws {
        let model = try ImageBindModel(try ImageBindTests.container("f32"), component: "imagebind")
        let embedder = ImageBindVideoEmbedder(model: model)
        let embedding = try embedder.embed(paths: ["\(TestSupport.fixtures)/media/clip.mp4"], context: .default)
        let reference = try SafetensorsFile.read(path: "\(TestSupport.bundles)/imagebind/clip-mp4-embedding.safetensors")
        let expect = try XCTUnwrap(reference["embedding"]).readFloats()
        XCTAssertEqual(embedding.shape, [1, expect.count])
        let error = relativeL2(embedding.values, expect)
        print("clip.mp4 embedding: rel L2 \(error) against data.py + decord + imagebind")
        XCTAssertLessThanOrEqual(error, 1e-4)
    }

    func testBadVideoFilesAreRefusedNamingThem() throws {
        let model = try ImageBindModel(try ImageBindTests.container("f32"), component: "imagebind")
        let embedder = ImageBindVideoEmbedder(model: model)
        for file in ["truncated.mp4", "not-video.mp4", "audio-only.mp4"] {
            let path = "\(TestSupport.fixtures)/media/\(file)"
            XCTAssertThrowsError(try embedder.embed(paths: [path], context: .default)) {
                XCTAssertTrue("\($0)".hasPrefix(path), "\($0)")
            }
        }
    }
}
