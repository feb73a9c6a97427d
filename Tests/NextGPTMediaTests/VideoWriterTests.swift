import Foundation
import NextGPTKernels
import NextGPTMedia
import NextGPTTestSupport
import XCTest

/// The video writer, read back with the project's own VideoFile (libavformat/libavcodec decode,
/// as decord would): frame count, rate, size and pixels within the codec's loss.
final class VideoWriterTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("video-writer")

    /// Smooth gradients that drift a little every frame: what a generated clip looks like.
    static func frames(count: Int = 6, width: Int = 64, height: Int = 48) throws -> [RGBImage] {
        try (0..<count).map { f in
            var pixels = [UInt8](repeating: 0, count: width * height * 3)
            for y in 0..<height {
                for x in 0..<width {
                    let i = (y * width + x) * 3
                    pixels[i] = UInt8(x * 200 / (width - 1) + 6 * f)
                    pixels[i + 1] = UInt8(y * 255 / (height - 1))
                    pixels[i + 2] = UInt8(100 + 10 * f)
                }
            }
            return try RGBImage(width: width, height: height, pixels: pixels)
        }
    }

    static func differences(_ a: [RGBImage], _ b: [RGBImage]) -> (mean: Double, max: Int) {
        var total = 0, count = 0, worst = 0
        for (x, y) in zip(a, b) {
            for (p, q) in zip(x.pixels, y.pixels) {
                let d = abs(Int(p) - Int(q))
                total += d
                count += 1
                worst = max(worst, d)
            }
        }
        return (Double(total) / Double(max(count, 1)), worst)
    }

    func testMP4IsH264AtTheRateWithTheFrames() throws {
        let frames = try Self.frames()
        let path = "\(Self.folder)/clip.mp4"
        let result = try VideoWriter.write(frames, to: path, fps: 8)
        XCTAssertEqual(result.encoder, "libx264", "Debian's libavcodec59 has libx264; \(result.notice ?? "")")
        XCTAssertNil(result.notice)
        let video = try VideoFile(path: path)
        XCTAssertEqual(video.frameCount, 6)
        XCTAssertEqual(video.fps, 8)
        XCTAssertEqual(video.width, 64)
        XCTAssertEqual(video.height, 48)
        let back = try video.frames(at: Array(0..<6))
        let (mean, worst) = Self.differences(frames, back)
        print("mp4 (\(result.encoder)): mean |Δ| \(mean), max |Δ| \(worst)")
        // Limited-range yuv420p (half the chroma resolution) and H.264 at CRF 17: measured mean
        // 1.86 and largest 8 levels with libx264 0.164 on these gradients.
        XCTAssertLessThanOrEqual(mean, 2.5)
        XCTAssertLessThanOrEqual(worst, 12)
        XCTAssertFalse(FileManager.default.fileExists(atPath: VideoWriter.temporaryPath(for: path)))
    }

    func testOtherFrameRatesAndOneFrame() throws {
        let path = "\(Self.folder)/one.mp4"
        _ = try VideoWriter.write(try Self.frames(count: 1, width: 32, height: 16), to: path, fps: 24)
        let video = try VideoFile(path: path)
        XCTAssertEqual(video.frameCount, 1)
        XCTAssertEqual(video.fps, 24)
        XCTAssertEqual(video.width, 32)
    }

    func testGIFHoldsEveryFrameWithItsColours() throws {
        // At most 256 colours in distinct 5-bit bins: the palette holds each exactly.
        let blocks: [(UInt8, UInt8, UInt8)] = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 250, 250), (16, 16, 16), (200, 120, 40)]
        let frames = try (0..<4).map { f -> RGBImage in
            var pixels = [UInt8]()
            for y in 0..<24 {
                for x in 0..<40 {
                    let c = blocks[(x / 8 + y / 8 + f) % blocks.count]
                    pixels += [c.0, c.1, c.2]
                }
            }
            return try RGBImage(width: 40, height: 24, pixels: pixels)
        }
        let path = "\(Self.folder)/clip.gif"
        let result = try VideoWriter.write(frames, to: path, fps: 10, container: .gif)
        XCTAssertEqual(result.encoder, "gif")
        let video = try VideoFile(path: path)
        XCTAssertEqual(video.frameCount, 4)
        XCTAssertEqual(video.width, 40)
        XCTAssertEqual(video.height, 24)
        XCTAssertEqual(video.fps, 10, accuracy: 0.01)  // 10 cs per frame: exact in GIF's centiseconds
        XCTAssertEqual(try video.frames(at: Array(0..<4)), frames)
    }

    func testGIFOfAGradientStaysClose() throws {
        let frames = try Self.frames(count: 3)
        let path = "\(Self.folder)/gradient.gif"
        _ = try VideoWriter.write(frames, to: path, fps: 8, container: .gif)
        let video = try VideoFile(path: path)
        XCTAssertEqual(video.frameCount, 3)
        let (mean, worst) = Self.differences(frames, try video.frames(at: [0, 1, 2]))
        print("gif: mean |Δ| \(mean), max |Δ| \(worst)")
        // 256 colours for ~3 × 3000 colours of a 2-D gradient, no dithering: measured mean 5.1,
        // largest 18 levels.
        XCTAssertLessThanOrEqual(mean, 6)
        XCTAssertLessThanOrEqual(worst, 24)
    }

    func testFramesDirectoryHoldsEachFrameAsPNG() throws {
        let frames = try Self.frames(count: 3)
        let directory = "\(Self.folder)/frames/nested"
        let paths = try VideoWriter.writeFrames(frames, toDirectory: directory)
        XCTAssertEqual(paths.map { ($0 as NSString).lastPathComponent }, ["frame-0000.png", "frame-0001.png", "frame-0002.png"])
        XCTAssertEqual(try paths.map { try PNGImage.read(path: $0) }, frames)
    }

    func testErrorsNameTheFileAndLeaveNothing() throws {
        let missing = "\(Self.folder)/no-such-dir/clip.mp4"
        XCTAssertThrowsError(try VideoWriter.write(try Self.frames(count: 2), to: missing)) {
            XCTAssertTrue("\($0)".contains(missing), "\($0)")
        }
        let path = "\(Self.folder)/bad.mp4"
        let mixed = try Self.frames(count: 1) + Self.frames(count: 1, width: 32, height: 16)
        XCTAssertThrowsError(try VideoWriter.write(mixed, to: path)) {
            XCTAssertTrue("\($0)".contains(path) && "\($0)".contains("frame 1 is 32×16"), "\($0)")
        }
        XCTAssertThrowsError(try VideoWriter.write(try Self.frames(count: 1, width: 33, height: 16), to: path)) {
            XCTAssertTrue("\($0)".contains("even"), "\($0)")
        }
        XCTAssertThrowsError(try VideoWriter.write([], to: path)) { XCTAssertTrue("\($0)".contains("no frames"), "\($0)") }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: VideoWriter.temporaryPath(for: path)))
    }

    func testFramesFromPipelineOutputAreCutAsExportToVideoCuts() throws {
        let tensor = Tensor(shape: [2, 1, 2, 3], values: [0, 0.5, 1, 0.999, 1.5, -0.2, 0.25, 0.75, 0.1, 0.004, 0.996, 0.5])
        let images = try VideoFrames.images(from: tensor)
        XCTAssertEqual(images.count, 2)
        XCTAssertEqual(images[0].pixels, [0, 127, 255, 254, 255, 0])
        XCTAssertEqual(images[1].pixels, [63, 191, 25, 1, 253, 127])
        XCTAssertThrowsError(try VideoFrames.images(from: Tensor(zeros: [2, 3, 4, 4])))
    }
}
