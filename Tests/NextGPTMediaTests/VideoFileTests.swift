import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTMedia
import NextGPTTestSupport
import XCTest

/// The video reader against decord (Tests/Fixtures/media/decord-frames.safetensors, made by
/// tools/references/bundle_imagebind_video.py from the files of tools/fixtures/make_video_media.sh).
final class VideoFileTests: XCTestCase {
    static let media = "\(TestSupport.fixtures)/media"

    func testFrameCountRateAndFramesMatchDecord() throws {
        let reference = try SafetensorsFile.read(path: "\(Self.media)/decord-frames.safetensors")
        func int64s(_ name: String) throws -> [Int] {
            let bytes = try XCTUnwrap(reference[name], name).readBytes()
            return stride(from: 0, to: bytes.count, by: 8).map { i in
                Int(Int64(littleEndian: bytes[i..<(i + 8)].enumerated().reduce(0) { $0 | Int64($1.element) << (8 * $1.offset) }))
            }
        }
        for file in ["clip.mp4", "clip.webm", "clip.avi", "ntsc.mp4"] {
            let video = try VideoFile(path: "\(Self.media)/\(file)")
            let count = try int64s("\(file).count")[0]
            let fpsBits = UInt64(bitPattern: Int64(try int64s("\(file).fps")[0]))
            XCTAssertEqual(video.frameCount, count, file)
            XCTAssertEqual(video.fps, Double(bitPattern: fpsBits), file)
            XCTAssertEqual(video.duration, Double(count) / Double(bitPattern: fpsBits), file)

            // Every frame, through its byte sum; the stored ones byte for byte.
            let sums = try int64s("\(file).sums")
            let all = try video.frames(at: Array(0..<count))
            let indices = try int64s("\(file).indices")
            let stored = try XCTUnwrap(reference["\(file).frames"]).readBytes()
            let frameBytes = video.width * video.height * 3
            var worst = 0
            for (k, index) in indices.enumerated() {
                let theirs = stored[(k * frameBytes)..<((k + 1) * frameBytes)]
                worst = max(worst, zip(all[index].pixels, theirs).map { abs(Int($0) - Int($1)) }.max() ?? 0)
            }
            let sumDifference = zip(all, sums).map { abs($0.pixels.reduce(0) { $0 + Int($1) } - $1) }.max() ?? 0
            print("\(file): \(video.width)×\(video.height), \(count) frames at \(video.fps) fps; largest level difference from decord \(worst), largest frame-sum difference \(sumDifference)")
            XCTAssertEqual(worst, 0, "\(file): frames differ from decord's")
            XCTAssertEqual(sumDifference, 0, "\(file): frame sums differ from decord's")
        }
    }

    func testOnlyAskedFramesComeBackInTheAskedOrder() throws {
        let video = try VideoFile(path: "\(Self.media)/clip.mp4")
        let all = try video.frames(at: Array(0..<video.frameCount))
        var updates: [ProgressUpdate] = []
        let picked = try video.frames(at: [7, 2, 7, 0], progress: ProgressHandler { updates.append($0) })
        XCTAssertEqual(picked, [all[7], all[2], all[7], all[0]])
        XCTAssertEqual(updates.last?.completed, 8, "decoding stops after the last frame asked for")
        XCTAssertEqual(updates.last?.total, 8)
        XCTAssertThrowsError(try video.frames(at: [video.frameCount])) {
            XCTAssertTrue("\($0)".contains("clip.mp4: frame 30 asked for, the video has 30"), "\($0)")
        }
    }

    func testBadFilesAreRefusedNamingThem() {
        let cases: [(String, String)] = [
            ("missing.mp4", "no such file"),
            ("not-video.mp4", "not a readable video"),
            ("audio-only.mp4", "no video stream"),
            ("truncated.mp4", "not a readable video"),
        ]
        for (file, message) in cases {
            let path = "\(Self.media)/\(file)"
            XCTAssertThrowsError(try VideoFile(path: path).frames(at: [0, 29])) {
                XCTAssertTrue("\($0)".hasPrefix(path), "\($0)")
                XCTAssertTrue("\($0)".contains(message), "\(file): \($0)")
            }
        }
    }
}
