import CFFmpeg
import Foundation
import NextGPTCore

public enum VideoError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case badRequest(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read (\(reason))"
        case .corrupt(let path, let reason): return "\(path): not a readable video (\(reason))"
        case .badRequest(let path, let reason): return "\(path): \(reason)"
        }
    }
}

/// A video file's frames as decord's `VideoReader(path)` (pytorchvideo's `EncodedVideoDecord`,
/// `decode_audio=False`) presents them: `frameCount` is `len(reader)` (the video stream's packets,
/// counted by demuxing the whole file, as decord's key-frame index does), `fps` is
/// `get_avg_fps()` (the stream's `avg_frame_rate` as a double), and frame *i* is the *i*-th
/// picture the decoder gives from the start, in RGB24. Audio and other streams are skipped.
///
/// Frames are decoded sequentially and only the requested ones are kept, so a long video costs
/// time, not memory. Rotation metadata is not applied (decord would rotate; none of the supported
/// paths needs it yet).
public struct VideoFile: Sendable {
    public let path: String
    public let width: Int
    public let height: Int
    public let frameCount: Int
    public let fps: Double

    /// pytorchvideo's `EncodedVideoDecord.duration`: `float(len(reader)) / float(fps)`.
    public var duration: Double { Double(frameCount) / fps }

    /// Larger frames are refused before anything is allocated (16384 × 16384 is more than any
    /// real video; a corrupt header claiming more is a decompression bomb).
    public static let maxSide = 16384
    public static let maxPixels = 8192 * 8192

    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw VideoError.unreadable(path: path, reason: "no such file")
        }
        self.path = path
        let demuxer = try Demuxer(path: path)
        width = demuxer.width
        height = demuxer.height
        fps = demuxer.averageFrameRate
        var packets = 0
        try demuxer.forEachVideoPacket { _ in
            packets += 1
            return true
        }
        guard packets > 0 else { throw VideoError.corrupt(path: path, reason: "the video stream has 0 frames") }
        frameCount = packets
    }

    /// `get_batch(indices)` without holding the whole video: decodes from the start and returns
    /// the frames at `indices` (in the order asked, repeats allowed). `progress` hears of every
    /// decoded frame up to the last one needed (phase `decoding`, unit `frame`).
    public func frames(at indices: [Int], progress: ProgressReporter? = nil) throws -> [RGBImage] {
        guard !indices.isEmpty else { return [] }
        for index in indices where index < 0 || index >= frameCount {
            throw VideoError.badRequest(path: path, reason: "frame \(index) asked for, the video has \(frameCount)")
        }
        let wanted = Set(indices)
        let last = indices.max()!
        var kept: [Int: RGBImage] = [:]
        let demuxer = try Demuxer(path: path)
        let decoder = try Decoder(demuxer: demuxer)
        let converter = try RGBConverter(width: width, height: height, path: path)
        let clock = ContinuousClock.now
        var next = 0
        func take(_ frame: UnsafeMutablePointer<AVFrame>) throws -> Bool {
            if wanted.contains(next) {
                guard Int(frame.pointee.width) == width, Int(frame.pointee.height) == height else {
                    throw VideoError.corrupt(path: path, reason: "frame \(next) is \(frame.pointee.width)×\(frame.pointee.height), the stream says \(width)×\(height)")
                }
                kept[next] = try converter.rgb(frame)
            }
            next += 1
            if let progress, next % 16 == 0 || next > last {
                let elapsed = clock.duration(to: .now)
                progress.report(ProgressUpdate(
                    phase: "decoding", completed: min(next, last + 1), total: last + 1, unit: "frame",
                    elapsedSeconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18,
                    item: (path as NSString).lastPathComponent))
            }
            return next > last
        }
        var done = false
        try demuxer.forEachVideoPacket { packet in
            done = try decoder.decode(packet, path: path, body: take)
            return !done
        }
        if !done { _ = try decoder.decode(nil, path: path, body: take) }
        guard next > last else {
            throw VideoError.corrupt(path: path, reason: "decoded \(next) of \(frameCount) frames; frame \(last) is missing")
        }
        return indices.map { kept[$0]! }
    }
}

/// One open libavformat context and its best video stream.
private final class Demuxer {
    let path: String
    var format: UnsafeMutablePointer<AVFormatContext>?
    let streamIndex: Int32
    let stream: UnsafeMutablePointer<AVStream>
    let width: Int
    let height: Int
    let averageFrameRate: Double

    init(path: String) throws {
        self.path = path
        _ = FFmpegLog.quiet
        var status = avformat_open_input(&format, path, nil, nil)
        guard status >= 0, format != nil else {
            throw VideoError.corrupt(path: path, reason: FFmpegStatus.message(status))
        }
        status = avformat_find_stream_info(format, nil)
        guard status >= 0 else {
            avformat_close_input(&format)
            throw VideoError.corrupt(path: path, reason: FFmpegStatus.message(status))
        }
        let index = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0, let stream = format!.pointee.streams[Int(index)], let parameters = stream.pointee.codecpar
        else {
            avformat_close_input(&format)
            throw VideoError.corrupt(path: path, reason: "no video stream")
        }
        streamIndex = index
        self.stream = stream
        width = Int(parameters.pointee.width)
        height = Int(parameters.pointee.height)
        let rate = stream.pointee.avg_frame_rate
        averageFrameRate = Double(rate.num) / Double(rate.den)
        guard width > 0, height > 0 else {
            avformat_close_input(&format)
            throw VideoError.corrupt(path: path, reason: "the video stream has no frame size")
        }
        guard width <= VideoFile.maxSide, height <= VideoFile.maxSide, width * height <= VideoFile.maxPixels else {
            avformat_close_input(&format)
            throw VideoError.corrupt(path: path, reason: "frames of \(width)×\(height) pixels are beyond the \(VideoFile.maxSide)-pixel limit")
        }
        guard rate.num > 0, rate.den > 0, averageFrameRate.isFinite else {
            avformat_close_input(&format)
            throw VideoError.corrupt(path: path, reason: "the video stream has no average frame rate")
        }
    }

    deinit { avformat_close_input(&format) }

    var parameters: UnsafeMutablePointer<AVCodecParameters> { stream.pointee.codecpar }

    /// Every packet of the video stream in file order, until `body` returns false or the file ends.
    /// Throws on a read error other than the end (a truncated file can also end early without an
    /// error: the decoder then gives fewer frames than packets, which `frames(at:)` reports).
    func forEachVideoPacket(_ body: (UnsafeMutablePointer<AVPacket>) throws -> Bool) throws {
        var packet = av_packet_alloc()
        guard packet != nil else { throw VideoError.corrupt(path: path, reason: "out of memory") }
        defer { av_packet_free(&packet) }
        while true {
            let status = av_read_frame(format, packet)
            if status == AVERROR_EOF_CODE { return }
            guard status >= 0 else { throw VideoError.corrupt(path: path, reason: FFmpegStatus.message(status)) }
            defer { av_packet_unref(packet) }
            if packet!.pointee.stream_index == streamIndex, try !body(packet!) { return }
        }
    }
}

/// AVERROR_EOF is a macro Swift cannot import: FFERRTAG('E','O','F',' ').
private let AVERROR_EOF_CODE: Int32 = -Int32(bitPattern: UInt32(0x45) | UInt32(0x4F) << 8 | UInt32(0x46) << 16 | UInt32(0x20) << 24)

private final class Decoder {
    var context: UnsafeMutablePointer<AVCodecContext>?
    var frame: UnsafeMutablePointer<AVFrame>?

    init(demuxer: Demuxer) throws {
        let path = demuxer.path
        guard let codec = avcodec_find_decoder(demuxer.parameters.pointee.codec_id) else {
            throw VideoError.corrupt(path: path, reason: "no decoder for this video codec")
        }
        context = avcodec_alloc_context3(codec)
        frame = av_frame_alloc()
        guard context != nil, frame != nil else { throw VideoError.corrupt(path: path, reason: "out of memory") }
        guard avcodec_parameters_to_context(context, demuxer.parameters) >= 0 else {
            throw VideoError.corrupt(path: path, reason: "bad codec parameters")
        }
        context!.pointee.time_base = demuxer.stream.pointee.time_base
        // One thread: frame order and output never depend on scheduling.
        context!.pointee.thread_count = 1
        let status = avcodec_open2(context, codec, nil)
        guard status >= 0 else { throw VideoError.corrupt(path: path, reason: FFmpegStatus.message(status)) }
    }

    deinit {
        avcodec_free_context(&context)
        av_frame_free(&frame)
    }

    /// Sends one packet (nil: drain) and hands every frame it releases to `body` until `body`
    /// returns true. Returns whether `body` asked to stop.
    func decode(_ packet: UnsafeMutablePointer<AVPacket>?, path: String,
                body: (UnsafeMutablePointer<AVFrame>) throws -> Bool) throws -> Bool {
        var status = avcodec_send_packet(context, packet)
        if status < 0 && status != AVERROR_EOF_CODE {
            throw VideoError.corrupt(path: path, reason: FFmpegStatus.message(status))
        }
        while true {
            status = avcodec_receive_frame(context, frame)
            if status == -EAGAIN || status == AVERROR_EOF_CODE { return false }
            guard status >= 0 else { throw VideoError.corrupt(path: path, reason: FFmpegStatus.message(status)) }
            defer { av_frame_unref(frame) }
            if try body(frame!) { return true }
        }
    }
}

/// YUV (or any pixel format) → RGB24 through libswscale, bilinear flags as libavfilter's `scale`
/// filter defaults to (what decord's `format=rgb24` filter graph runs); at the same size only the
/// colour conversion and chroma up-sampling remain.
private final class RGBConverter {
    let width: Int
    let height: Int
    let path: String
    var scaler: OpaquePointer?
    var format: AVPixelFormat = AV_PIX_FMT_NONE

    init(width: Int, height: Int, path: String) throws {
        self.width = width
        self.height = height
        self.path = path
    }

    deinit { sws_freeContext(scaler) }

    func rgb(_ frame: UnsafeMutablePointer<AVFrame>) throws -> RGBImage {
        let pixelFormat = AVPixelFormat(frame.pointee.format)
        if scaler == nil || pixelFormat != format {
            sws_freeContext(scaler)
            scaler = sws_getContext(
                Int32(width), Int32(height), pixelFormat, Int32(width), Int32(height), AV_PIX_FMT_RGB24,
                SWS_BILINEAR, nil, nil, nil)
            format = pixelFormat
            guard scaler != nil else { throw VideoError.corrupt(path: path, reason: "no conversion to RGB for this pixel format") }
        }
        guard let scaler, let pixels = FFmpegRGB.pixels(of: frame, scaler: scaler, width: width, height: height) else {
            throw VideoError.corrupt(path: path, reason: "colour conversion failed")
        }
        return try RGBImage(width: width, height: height, pixels: pixels)
    }
}
