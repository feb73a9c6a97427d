import CFFmpeg
import Foundation
import NextGPTCore

/// What `VideoWriter` wrote: the encoder it used and, when it had to fall back, why.
public struct VideoWriteResult: Sendable {
    public let path: String
    /// FFmpeg's encoder name: `libx264`, `mpeg4`, `gif`.
    public let encoder: String
    /// Set when the MP4 is not H.264 because this FFmpeg has no usable H.264 encoder.
    public let notice: String?
}

/// Writes RGB frames as a video through libavcodec/libavformat: MP4 with H.264 (`yuv420p`, the
/// stream NExT-GPT's `export_to_video` writes, at its 8 fps by default) or, when the installed
/// FFmpeg has no H.264 encoder, MPEG-4 Part 2 with a notice; or an animated GIF (one 256-colour
/// palette for the whole clip, looping). The file is written beside its destination
/// (`.<name>.tmp-<pid>`) and renamed into place, so a failed write leaves nothing.
public enum VideoWriter {
    public enum Container: Sendable {
        case mp4
        case gif
    }

    public static func write(_ frames: [RGBImage], to path: String, fps: Int = 8, container: Container = .mp4) throws -> VideoWriteResult {
        guard let first = frames.first else { throw VideoError.badRequest(path: path, reason: "no frames to write") }
        guard fps > 0 else { throw VideoError.badRequest(path: path, reason: "frame rate must be positive, got \(fps)") }
        for (index, frame) in frames.enumerated() where frame.width != first.width || frame.height != first.height {
            throw VideoError.badRequest(path: path, reason: "frame \(index) is \(frame.width)×\(frame.height), frame 0 is \(first.width)×\(first.height)")
        }
        if container == .mp4, first.width % 2 != 0 || first.height % 2 != 0 {
            throw VideoError.badRequest(path: path, reason: "yuv420p needs even sides, the frames are \(first.width)×\(first.height)")
        }
        _ = FFmpegLog.quiet
        let temporary = temporaryPath(for: path)
        do {
            let result: VideoWriteResult
            switch container {
            case .mp4:
                result = try writeMP4(frames, temporary: temporary, destination: path, fps: fps)
            case .gif:
                let encoder = try Encoder(format: "gif", path: temporary, destination: path)
                try encoder.open(codec: avcodec_find_encoder(AV_CODEC_ID_GIF), width: first.width, height: first.height,
                                 pixelFormat: AV_PIX_FMT_PAL8, fps: fps, options: [:])
                let palette = GIFPalette(frames)
                for (index, frame) in frames.enumerated() { try encoder.send(index: index) { try palette.fill($0, from: frame) } }
                try encoder.finish()
                result = VideoWriteResult(path: path, encoder: "gif", notice: nil)
            }
            guard rename(temporary, path) == 0 else {
                throw VideoError.badRequest(path: path, reason: "cannot rename \(temporary) into place: \(String(cString: strerror(errno)))")
            }
            return result
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Writes each frame as `frame-0000.png`, `frame-0001.png`, … in `directory` (made if missing);
    /// returns the paths.
    @discardableResult
    public static func writeFrames(_ frames: [RGBImage], toDirectory directory: String) throws -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw VideoError.badRequest(path: directory, reason: "cannot make the frames directory: \(error.localizedDescription)")
        }
        return try frames.enumerated().map { index, frame in
            let path = (directory as NSString).appendingPathComponent(String(format: "frame-%04d.png", index))
            try PNGImage.write(frame, to: path)
            return path
        }
    }

    /// The name the file is written under before the rename (the CLI's interrupt clean-up removes it).
    public static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())").path
    }

    static func writeMP4(_ frames: [RGBImage], temporary: String, destination: String, fps: Int) throws -> VideoWriteResult {
        let (width, height) = (frames[0].width, frames[0].height)
        // libx264 first (avcodec_find_encoder may name a hardware H.264 encoder that cannot open here).
        var candidates: [UnsafePointer<AVCodec>] = []
        if let x264 = avcodec_find_encoder_by_name("libx264") { candidates.append(x264) }
        if let h264 = avcodec_find_encoder(AV_CODEC_ID_H264), !candidates.contains(h264) { candidates.append(h264) }
        var failures: [String] = []
        for codec in candidates {
            let name = String(cString: codec.pointee.name)
            let encoder = try Encoder(format: "mp4", path: temporary, destination: destination)
            do {
                try encoder.open(codec: codec, width: width, height: height, pixelFormat: AV_PIX_FMT_YUV420P, fps: fps,
                                 options: ["crf": "17", "preset": "medium"])
            } catch {
                failures.append("\(name): \(error)")
                continue
            }
            try encodeYUV(frames, with: encoder, path: destination)
            return VideoWriteResult(path: destination, encoder: name, notice: nil)
        }
        let encoder = try Encoder(format: "mp4", path: temporary, destination: destination)
        try encoder.open(codec: avcodec_find_encoder(AV_CODEC_ID_MPEG4), width: width, height: height,
                         pixelFormat: AV_PIX_FMT_YUV420P, fps: fps, options: [:], fixedQuality: 2)
        try encodeYUV(frames, with: encoder, path: destination)
        let why = candidates.isEmpty ? "this FFmpeg (libavcodec \(LIBAVCODEC_VERSION_MAJOR)) has no H.264 encoder"
            : "no H.264 encoder would open (\(failures.joined(separator: "; ")))"
        return VideoWriteResult(path: destination, encoder: "mpeg4", notice: "\(why): wrote MPEG-4 Part 2 instead (install libx264 for H.264)")
    }

    static func encodeYUV(_ frames: [RGBImage], with encoder: Encoder, path: String) throws {
        let (width, height) = (frames[0].width, frames[0].height)
        guard let scaler = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height),
                                          AV_PIX_FMT_YUV420P, SWS_BILINEAR, nil, nil, nil) else {
            throw VideoError.badRequest(path: path, reason: "no RGB → yuv420p conversion")
        }
        defer { sws_freeContext(scaler) }
        for (index, frame) in frames.enumerated() {
            try encoder.send(index: index) { target in
                let lines = frame.pixels.withUnsafeBufferPointer { rgb -> Int32 in
                    var source: [UnsafePointer<UInt8>?] = [rgb.baseAddress, nil, nil, nil]
                    var strides: [Int32] = [Int32(width * 3), 0, 0, 0]
                    let data = withUnsafePointer(to: target.pointee.data) { tuple in
                        tuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { p in (0..<8).map { p[$0] } }
                    }
                    let lineSizes = withUnsafePointer(to: target.pointee.linesize) { tuple in
                        tuple.withMemoryRebound(to: Int32.self, capacity: 8) { p in (0..<8).map { p[$0] } }
                    }
                    return sws_scale(scaler, &source, &strides, 0, Int32(height), data, lineSizes)
                }
                guard lines == Int32(height) else { throw VideoError.badRequest(path: path, reason: "colour conversion of frame \(index) failed") }
            }
        }
        try encoder.finish()
    }
}

/// libavformat's muxer and one libavcodec encoder writing to a file.
final class Encoder {
    let path: String
    let destination: String
    var format: UnsafeMutablePointer<AVFormatContext>?
    var codec: UnsafeMutablePointer<AVCodecContext>?
    var stream: UnsafeMutablePointer<AVStream>?
    var frame: UnsafeMutablePointer<AVFrame>?
    var packet: UnsafeMutablePointer<AVPacket>?
    var headerWritten = false

    // Macros Swift cannot import.
    static let globalHeaderFormat: Int32 = 0x0040  // AVFMT_GLOBALHEADER
    static let noFileFormat: Int32 = 0x0001  // AVFMT_NOFILE
    static let globalHeaderCodec: Int32 = 1 << 22  // AV_CODEC_FLAG_GLOBAL_HEADER
    static let fixedQualityCodec: Int32 = 1 << 1  // AV_CODEC_FLAG_QSCALE
    static let lambdaPerQP: Int32 = 118  // FF_QP2LAMBDA
    static let writeFlag: Int32 = 2  // AVIO_FLAG_WRITE
    static let endOfFile: Int32 = -Int32(bitPattern: UInt32(0x45) | UInt32(0x4F) << 8 | UInt32(0x46) << 16 | UInt32(0x20) << 24)

    init(format name: String, path: String, destination: String) throws {
        self.path = path
        self.destination = destination
        let status = avformat_alloc_output_context2(&format, nil, name, path)
        guard status >= 0, format != nil else { throw failure("no \(name) muxer", status) }
    }

    deinit {
        if let format {
            if headerWritten, format.pointee.pb != nil { av_write_trailer(format) }
            if format.pointee.oformat.pointee.flags & Self.noFileFormat == 0 { avio_closep(&format.pointee.pb) }
            avformat_free_context(format)
        }
        avcodec_free_context(&codec)
        av_frame_free(&frame)
        av_packet_free(&packet)
    }

    func failure(_ what: String, _ status: Int32? = nil) -> VideoError {
        .badRequest(path: destination, reason: status.map { "\(what): \(FFmpegStatus.message($0))" } ?? what)
    }

    /// Opens the encoder (throws if it will not open) and writes the file header.
    func open(codec found: UnsafePointer<AVCodec>?, width: Int, height: Int, pixelFormat: AVPixelFormat, fps: Int,
              options: [String: String], fixedQuality: Int32? = nil) throws {
        guard let found, let format else { throw failure("no encoder") }
        guard let context = avcodec_alloc_context3(found) else { throw failure("out of memory") }
        codec = context
        context.pointee.width = Int32(width)
        context.pointee.height = Int32(height)
        context.pointee.pix_fmt = pixelFormat
        context.pointee.time_base = AVRational(num: 1, den: Int32(fps))
        context.pointee.framerate = AVRational(num: Int32(fps), den: 1)
        context.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        // One thread: the same frames always give the same file.
        context.pointee.thread_count = 1
        if let fixedQuality {
            context.pointee.flags |= Self.fixedQualityCodec
            context.pointee.global_quality = Self.lambdaPerQP * fixedQuality
        }
        if format.pointee.oformat.pointee.flags & Self.globalHeaderFormat != 0 {
            context.pointee.flags |= Self.globalHeaderCodec
        }
        var dictionary: OpaquePointer?
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        let opened = avcodec_open2(context, found, &dictionary)
        av_dict_free(&dictionary)
        guard opened >= 0 else { throw failure("encoder \(String(cString: found.pointee.name)) would not open", opened) }

        guard let stream = avformat_new_stream(format, nil) else { throw failure("out of memory") }
        self.stream = stream
        guard avcodec_parameters_from_context(stream.pointee.codecpar, context) >= 0 else { throw failure("bad codec parameters") }
        stream.pointee.time_base = context.pointee.time_base
        stream.pointee.avg_frame_rate = context.pointee.framerate
        if format.pointee.oformat.pointee.flags & Self.noFileFormat == 0 {
            let status = avio_open(&format.pointee.pb, path, Self.writeFlag)
            guard status >= 0 else { throw failure("cannot create \(path)", status) }
        }
        let status = avformat_write_header(format, nil)
        guard status >= 0 else { throw failure("cannot write the header", status) }
        headerWritten = true

        frame = av_frame_alloc()
        packet = av_packet_alloc()
        guard let frame, packet != nil else { throw failure("out of memory") }
        frame.pointee.format = pixelFormat.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        guard av_frame_get_buffer(frame, 0) >= 0 else { throw failure("out of memory") }
    }

    /// Fills the frame buffer with `fill` and encodes it as picture `index`.
    func send(index: Int, fill: (UnsafeMutablePointer<AVFrame>) throws -> Void) throws {
        guard let frame else { throw failure("encoder not open") }
        let writable = av_frame_make_writable(frame)
        guard writable >= 0 else { throw failure("frame buffer", writable) }
        try fill(frame)
        frame.pointee.pts = Int64(index)
        try encode(frame)
    }

    /// Drains the encoder and writes the trailer.
    func finish() throws {
        try encode(nil)
        let status = av_write_trailer(format)
        headerWritten = false
        guard status >= 0 else { throw failure("cannot finish the file", status) }
    }

    private func encode(_ frame: UnsafeMutablePointer<AVFrame>?) throws {
        guard let codec, let stream, let packet else { throw failure("encoder not open") }
        var status = avcodec_send_frame(codec, frame)
        guard status >= 0 else { throw failure("encoding failed", status) }
        while true {
            status = avcodec_receive_packet(codec, packet)
            if status == -EAGAIN || status == Self.endOfFile { return }
            guard status >= 0 else { throw failure("encoding failed", status) }
            av_packet_rescale_ts(packet, codec.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = stream.pointee.index
            status = av_interleaved_write_frame(format, packet)
            guard status >= 0 else { throw failure("cannot write to \(path)", status) }
        }
    }
}
