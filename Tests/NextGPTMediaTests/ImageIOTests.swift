import Foundation
import NextGPTFormats
import NextGPTKernels
import NextGPTMedia
import NextGPTTestSupport
import XCTest

/// Image files against Pillow (tools/references/make_image_cases.py) and the VaeImageProcessor
/// conversions against their diffusers definitions.
final class ImageIOTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: "\(TestSupport.fixtures)/images")

    private func pillow(_ name: String) throws -> [UInt8] {
        let file = try SafetensorsFile.read(path: Self.fixtures.appendingPathComponent("pillow-decoded.safetensors").path)
        guard let source = file[name] else { throw ImageError.badImage("no Pillow reference for \(name)") }
        return try source.readFloats().map { UInt8($0) }
    }

    func testPNGDecodingMatchesPillow() throws {
        for name in ["rgb8.png", "rgba8.png", "gray8.png", "gray_alpha8.png", "gray1.png", "palette.png", "rgb16.png", "rgba16.png"] {
            let image = try ImageFile.read(path: Self.fixtures.appendingPathComponent(name).path)
            let expect = try pillow(name)
            XCTAssertEqual(image.pixels.count, expect.count, name)
            let differing = zip(image.pixels, expect).filter { $0 != $1 }.count
            print("PNG \(name) \(image.width)x\(image.height): \(differing) values differ from Pillow")
            XCTAssertEqual(differing, 0, name)
        }
    }

    func testSixteenBitGrayIsReducedToItsHighByte() throws {
        // Pillow opens 16-bit gray as mode I;16 and its RGB conversion clips at 255 instead of
        // scaling; we keep the high byte as for every other 16-bit PNG (documented difference).
        let image = try PNGImage.read(path: Self.fixtures.appendingPathComponent("gray16.png").path)
        XCTAssertEqual(image.width, 17)
        XCTAssertEqual(image.height, 13)
        for i in stride(from: 0, to: image.pixels.count, by: 3) {
            XCTAssertEqual(image.pixels[i], image.pixels[i + 1])
            XCTAssertEqual(image.pixels[i], image.pixels[i + 2])
        }
    }

    func testJPEGDecodingIsWithinAFewLevelsOfPillow() throws {
        for name in ["photo420.jpg", "photo444.jpg"] {
            let image = try ImageFile.read(path: Self.fixtures.appendingPathComponent(name).path)
            XCTAssertEqual([image.width, image.height], [37, 29], name)
            let expect = try pillow(name)
            let differences = zip(image.pixels, expect).map { abs(Int($0) - Int($1)) }
            let worst = differences.max() ?? 0
            let mean = Double(differences.reduce(0, +)) / Double(differences.count)
            print(String(format: "JPEG %@: max |ours − Pillow| %d levels, mean %.3f", name, worst, mean))
            XCTAssertLessThanOrEqual(worst, 4, name)
            XCTAssertLessThanOrEqual(mean, 0.2, name)
        }
    }

    func testWriteReadRoundTripWithTextChunks() throws {
        let directory = try scratchDirectory("media")
        let path = directory + "/out.png"
        let pixels = (0..<(5 * 3 * 3)).map { UInt8(($0 * 37) % 256) }
        let image = try RGBImage(width: 5, height: 3, pixels: pixels)
        let text = [(key: "prompt", value: "a red fox, oil painting"), (key: "negative", value: "café ☕, blurry"), (key: "seed", value: "4294967301"), (key: "steps", value: "25")]
        try PNGImage.write(image, to: path, text: text)
        XCTAssertEqual(try PNGImage.read(path: path), image)
        let chunks = try PNGImage.textChunks(path: path)
        XCTAssertEqual(chunks.map(\.key), text.map(\.key))
        XCTAssertEqual(chunks.map(\.value), text.map(\.value))
        // Nothing but the file itself is left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["out.png"])
        XCTAssertThrowsError(try PNGImage.write(image, to: path, text: [(key: "", value: "x")]))
        XCTAssertThrowsError(try PNGImage.write(image, to: directory + "/missing/dir/out.png"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["out.png"])
    }

    func testCorruptAndTruncatedFilesGiveErrors() throws {
        let directory = try scratchDirectory("media")
        let png = try Data(contentsOf: Self.fixtures.appendingPathComponent("rgb8.png"))
        let jpeg = try Data(contentsOf: Self.fixtures.appendingPathComponent("photo420.jpg"))
        var flipped = png
        flipped[png.count / 2] ^= 0xFF
        let cases: [(String, Data)] = [
            ("truncated.png", png.prefix(png.count / 2)),
            ("signature-only.png", png.prefix(8)),
            ("crc.png", flipped),
            ("empty.png", Data()),
            ("truncated.jpg", jpeg.prefix(40)),
            ("noise.jpg", Data((0..<500).map { UInt8(($0 * 131) % 251) })),
        ]
        for (name, data) in cases {
            let path = directory + "/" + name
            try data.write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try ImageFile.read(path: path), name) { error in
                print("CORRUPT \(name): \(error)")
                XCTAssertTrue("\(error)".contains(name), "\(name): error names the file")
            }
        }
        XCTAssertThrowsError(try ImageFile.read(path: directory + "/absent.png"))
        XCTAssertThrowsError(try PNGImage.textChunks(path: directory + "/truncated.png"))

        // A decompression bomb: a valid PNG header declaring 100 000 × 100 000 pixels (30 GB as RGB)
        // must be refused from its header, before any pixel buffer is allocated.
        let bomb = directory + "/bomb.png"
        try Self.pngHeaderOnly(width: 100_000, height: 100_000).write(to: URL(fileURLWithPath: bomb))
        XCTAssertThrowsError(try ImageFile.read(path: bomb)) { error in
            XCTAssertTrue("\(error)".contains("bomb.png") && "\(error)".contains("100000×100000"), "\(error)")
        }
    }

    /// The PNG signature, an IHDR chunk (8-bit RGB) and a tiny IDAT, with correct CRCs.
    static func pngHeaderOnly(width: UInt32, height: UInt32) -> Data {
        func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
        func crc32(_ bytes: [UInt8]) -> UInt32 {
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
            return ~crc
        }
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            return be32(UInt32(body.count)) + typed + be32(crc32(typed))
        }
        let header = be32(width) + be32(height) + [8, 2, 0, 0, 0]
        let idat: [UInt8] = [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]
        return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", idat) + chunk("IEND", []))
    }

    func testVaeConversionsFollowDiffusers() throws {
        // postprocess: (x/2 + 0.5).clamp(0, 1) → (·255).round() half to even.
        let values: [Float] = [-1.5, -1, 0, 1, 2, 1.0 / 255 - 1, 0.5 / 255 * 2 - 1, -0.2]
        let tensor = Tensor(shape: [1, 3, 1, values.count], values: values + values + values)
        let image = try VaeImageProcessor.images(from: tensor)[0]
        let expect: [UInt8] = values.map { v in
            let unit = min(max(v / 2 + 0.5, 0), 1)
            return UInt8((unit * 255).rounded(.toNearestOrEven))
        }
        XCTAssertEqual(stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0] }, expect)
        XCTAssertEqual(expect[0...4], [0, 0, 128, 255, 255])
        // preprocess: uint8/255 → 2x − 1, layout [N, 3, H, W].
        let input = try RGBImage(width: 2, height: 1, pixels: [0, 128, 255, 10, 20, 30])
        let back = try VaeImageProcessor.tensor(from: [input])
        XCTAssertEqual(back.shape, [1, 3, 1, 2])
        XCTAssertEqual(back.values, [0, 10, 128, 20, 255, 30].map { 2 * (Float($0) / 255) - 1 })
        XCTAssertThrowsError(try VaeImageProcessor.images(from: Tensor(zeros: [1, 4, 2, 2])))
    }
}
