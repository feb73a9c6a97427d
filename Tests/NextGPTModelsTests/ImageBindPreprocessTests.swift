import Foundation
import NextGPTFormats
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia
import NextGPTSessions
import NextGPTTestSupport
import NextGPTVerify
import XCTest

/// ImageBind's image pre-processing (`load_and_transform_vision_data`) against torchvision and
/// Pillow, bundles by tools/references/bundle_imagebind_preprocess.py.
final class ImageBindPreprocessTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("models")

    func testBundlesMatchTorchvisionAndPillow() throws {
        var probes: [String] = []
        for name in ["preprocess-image", "preprocess-image-sizes", "preprocess-image-downscale"] {
            let report = try ModelsTestSupport.verify(bundle: "imagebind/\(name)", in: Self.folder, minimumProbes: 2)
            for result in report.results {
                probes.append(result.probe.name)
                for output in result.outputs {
                    print("\(name) \(result.probe.name).\(output.output): rel L2 \(output.relL2), max abs \(output.maxAbs)")
                    XCTAssertLessThanOrEqual(output.relL2, 1e-4, "\(result.probe.name).\(output.output)")
                    if output.output == "pixels" { XCTAssertLessThanOrEqual(output.maxAbs, 1, "within one level of Pillow") }
                }
            }
        }
        XCTAssertEqual(Set(probes), ["photo420", "upscale_97x61", "upscale_300x200", "upscale_150x260", "identity_224x224",
                                     "downscale_252x230", "downscale_460x250"])
    }

    func testOutputSizesAndCropOffsetsFollowTorchvision() {
        XCTAssertTrue(ImageBindImageTransform.resizedSize(width: 150, height: 260) == (224, 388))
        XCTAssertTrue(ImageBindImageTransform.resizedSize(width: 97, height: 61) == (356, 224))
        XCTAssertTrue(ImageBindImageTransform.resizedSize(width: 252, height: 230) == (245, 224))
        XCTAssertEqual(ImageBindImageTransform.centerCropOffset(245, crop: 224), 10, "round(10.5) is 10 in Python")
        XCTAssertEqual(ImageBindImageTransform.centerCropOffset(247, crop: 224), 12, "round(11.5) is 12")
    }

    func testBadInputsAreClearErrors() throws {
        let cases: [([Int], String)] = [
            ([4, 5, 4], "expected RGB pixels [H, W, 3] with H, W ≥ 1, got [4, 5, 4]"),
            ([0, 5, 3], "expected RGB pixels [H, W, 3] with H, W ≥ 1, got [0, 5, 3]"),
            ([5, 0, 3], "got [5, 0, 3]"),
            ([5, 3], "got [5, 3]"),
        ]
        for (shape, message) in cases {
            XCTAssertThrowsError(try ImageBindImageTransform.image(fromRGB: Tensor(zeros: shape))) {
                XCTAssertTrue("\($0)".contains(message), "\($0)")
            }
        }
        XCTAssertThrowsError(try ImageBindImageTransform.image(fromRGB: Tensor(shape: [1, 1, 3], values: [0, 256, 3]))) {
            XCTAssertTrue("\($0)".contains("RGB pixels must be integers 0…255, found 256"), "\($0)")
        }
        XCTAssertThrowsError(try ImageBindImageTransform.image(fromRGB: Tensor(shape: [1, 1, 3], values: [0, 1.5, 3]))) {
            XCTAssertTrue("\($0)".contains("found 1.5"), "\($0)")
        }
        let sliver = try RGBImage(width: 100_000, height: 1, pixels: [UInt8](repeating: 7, count: 300_000))
        XCTAssertThrowsError(try ImageBindImageTransform.pixelValues(sliver)) {
            XCTAssertTrue("\($0)".contains("a 100000×1 image would resize to 22400000×224; its aspect ratio is absurd"), "\($0)")
        }
        let tiny = try RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 7, count: 12))
        XCTAssertThrowsError(try PillowResize.resize(tiny, width: 0, height: 5)) {
            XCTAssertTrue("\($0)".contains("cannot resize 2×2 to 0×5"), "\($0)")
        }
    }

    func testFlatImageStaysFlat() throws {
        let flat = try RGBImage(width: 333, height: 250, pixels: [UInt8](repeating: 200, count: 333 * 250 * 3))
        let crop = try ImageBindImageTransform.resizedCrop(flat)
        XCTAssertEqual(crop.width, 224)
        XCTAssertTrue(crop.pixels.allSatisfy { $0 == 200 })
    }
}

/// An image file → its ImageBind embedding in one call, against `load_and_transform_vision_data`
/// then the PyTorch model on the same file (Pillow decoding it).
final class ImageBindImageEmbedderTests: XCTestCase {
    func testPhotoFileEmbeddingMatchesPyTorch() throws {
        let model = try ImageBindModel(try ImageBindTests.container("f32"), component: "imagebind")
        let reference = try SafetensorsFile.read(path: "\(TestSupport.bundles)/imagebind/photo420-embedding.safetensors")
        guard let expectSource = reference["embedding"] else { return XCTFail("no embedding in the reference") }
        let expect = try expectSource.readFloats()
        let photo = "\(TestSupport.root)/Tests/Fixtures/images/photo420.jpg"
        let embedder = ImageBindImageEmbedder(model: model)
        let ours = try embedder.embed(paths: [photo], context: .default)
        XCTAssertEqual(ours.shape, [1, model.config.outEmbedDim])
        let fromFile = relL2(ours.values, expect)

        // Pillow's decoded pixels through the same transform and model: the pre-processing and
        // the model alone, without libavcodec's JPEG decoding (a few levels from Pillow's).
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/imagebind/preprocess-image.safetensors")
        let pillowImage = try ImageBindImageTransform.image(fromRGB: try bundle.tensor("photo420.rgb"))
        let fromPillowPixels = relL2(try model(try ImageBindImageTransform.pixelValues(pillowImage), modality: .vision, context: .default).values, expect)
        print("photo420.jpg embedding: rel L2 \(fromFile) from the file (our JPEG decoder), \(fromPillowPixels) from Pillow's pixels")
        XCTAssertLessThanOrEqual(fromPillowPixels, 1e-4)
        XCTAssertLessThanOrEqual(fromFile, 1e-2, "JPEG decoders differ by a few levels")
    }

    func testUnreadableFileIsNamed() throws {
        let model = try ImageBindModel(try ImageBindTests.container("f32"), component: "imagebind")
        XCTAssertThrowsError(try ImageBindImageEmbedder(model: model).embed(paths: ["/nonexistent/cat.png"], context: .default)) {
            XCTAssertTrue("\($0)".contains("/nonexistent/cat.png"), "\($0)")
        }
    }

    private func relL2(_ a: [Float], _ b: [Float]) -> Double {
        var d = 0.0, r = 0.0
        for (x, y) in zip(a, b) { d += Double(x - y) * Double(x - y); r += Double(y) * Double(y) }
        return (d / r).squareRoot()
    }
}
