import CFFmpeg
import Foundation

/// MP3, AAC, M4A and whatever else libavformat opens, decoded with libavcodec. libswresample
/// only converts each frame's sample format to planar float at the file's own rate and layout.
/// The decoder's gapless trimming (LAME/iTunes encoder delay) is libavcodec's, as in ffmpeg.
enum FFmpegAudioDecoder {
    static func read(path: String) throws -> Waveform {
        var format: UnsafeMutablePointer<AVFormatContext>?
        _ = FFmpegLog.quiet
        var status = avformat_open_input(&format, path, nil, nil)
        guard status >= 0, format != nil else { throw AudioError.corrupt(path: path, reason: FFmpegStatus.message(status)) }
        defer { avformat_close_input(&format) }
        status = avformat_find_stream_info(format, nil)
        guard status >= 0 else { throw AudioError.corrupt(path: path, reason: FFmpegStatus.message(status)) }
        let streamIndex = av_find_best_stream(format, AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0)
        guard streamIndex >= 0, let stream = format!.pointee.streams[Int(streamIndex)],
              let parameters = stream.pointee.codecpar
        else { throw AudioError.corrupt(path: path, reason: "no audio stream") }
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw AudioError.corrupt(path: path, reason: "no decoder for this audio format")
        }
        let channels = Int(parameters.pointee.ch_layout.nb_channels), rate = Int(parameters.pointee.sample_rate)
        try checkShape(channels: channels, rate: rate, path: path)
        var context = avcodec_alloc_context3(codec)
        guard context != nil else { throw AudioError.corrupt(path: path, reason: "decoder allocation failed") }
        defer { avcodec_free_context(&context) }
        guard avcodec_parameters_to_context(context, parameters) >= 0 else {
            throw AudioError.corrupt(path: path, reason: "bad codec parameters")
        }
        status = avcodec_open2(context, codec, nil)
        guard status >= 0 else { throw AudioError.corrupt(path: path, reason: FFmpegStatus.message(status)) }

        var packet = av_packet_alloc()
        var frame = av_frame_alloc()
        defer {
            av_packet_free(&packet)
            av_frame_free(&frame)
        }
        guard packet != nil, frame != nil else { throw AudioError.corrupt(path: path, reason: "out of memory") }
        var planes = [[Float]](repeating: [], count: channels)
        var converter = PlanarFloatConverter(path: path)
        defer { converter.free() }

        func drain() throws {
            while true {
                let received = avcodec_receive_frame(context, frame)
                if received == -EAGAIN || received == AVERROR_EOF_CODE { return }
                guard received >= 0 else { throw AudioError.corrupt(path: path, reason: FFmpegStatus.message(received)) }
                defer { av_frame_unref(frame) }
                let f = frame!.pointee
                if f.decode_error_flags != 0 || (f.flags & AV_FRAME_FLAG_CORRUPT) != 0 {
                    throw AudioError.corrupt(path: path, reason: "the decoder reported a corrupt frame")
                }
                guard Int(f.ch_layout.nb_channels) == channels, Int(f.sample_rate) == rate else {
                    throw AudioError.corrupt(path: path, reason: "the channel count or sample rate changes within the stream")
                }
                guard planes[0].count + Int(f.nb_samples) <= AudioLimits.maximumSamples / channels else {
                    throw AudioError.corrupt(path: path, reason: "more than the \(AudioLimits.maximumSamples) samples accepted")
                }
                try converter.append(frame!, to: &planes)
            }
        }
        while true {
            status = av_read_frame(format, packet)
            if status < 0 { break }
            defer { av_packet_unref(packet) }
            guard packet!.pointee.stream_index == streamIndex else { continue }
            let sent = avcodec_send_packet(context, packet)
            guard sent >= 0 else { throw AudioError.corrupt(path: path, reason: "undecodable data (\(FFmpegStatus.message(sent)))") }
            try drain()
        }
        guard status == AVERROR_EOF_CODE else { throw AudioError.corrupt(path: path, reason: FFmpegStatus.message(status)) }
        avcodec_send_packet(context, nil)
        try drain()

        let frames = planes[0].count
        guard frames > 0 else { throw AudioError.corrupt(path: path, reason: "no samples") }
        // A container that states its length (an MP3's Xing header counts every frame): far fewer
        // decoded samples means the file was cut short.
        if format!.pointee.duration_estimation_method == AVFMT_DURATION_FROM_STREAM, stream.pointee.duration > 0 {
            let tb = stream.pointee.time_base
            let declared = Int(Double(stream.pointee.duration) * Double(tb.num) / Double(tb.den) * Double(rate))
            if frames < declared - max(declared / 50, 4096) {
                throw AudioError.corrupt(path: path, reason: "truncated: \(frames) of the \(declared) frames the stream declares could be decoded")
            }
        }
        return try Waveform(sampleRate: rate, channels: channels, samples: planes.flatMap { $0 })
    }

    static func checkShape(channels: Int, rate: Int, path: String) throws {
        guard channels > 0, channels <= AudioLimits.maximumChannels else {
            throw AudioError.corrupt(path: path, reason: "\(channels) channels (1…\(AudioLimits.maximumChannels) are accepted)")
        }
        guard rate > 0, rate <= AudioLimits.maximumSampleRate else {
            throw AudioError.corrupt(path: path, reason: "sample rate \(rate) Hz (1…\(AudioLimits.maximumSampleRate) Hz are accepted)")
        }
    }

    static let AVERROR_EOF_CODE: Int32 = -Int32(bitPattern: UInt32(UInt8(ascii: "E")) | UInt32(UInt8(ascii: "O")) << 8
        | UInt32(UInt8(ascii: "F")) << 16 | UInt32(UInt8(ascii: " ")) << 24)
}

/// A frame's samples (any sample format) → planar float at the same rate and channel layout.
private struct PlanarFloatConverter {
    let path: String
    var swr: OpaquePointer?
    var scratch: [Float] = []

    init(path: String) { self.path = path }

    mutating func append(_ frame: UnsafeMutablePointer<AVFrame>, to planes: inout [[Float]]) throws {
        let count = Int(frame.pointee.nb_samples), channels = planes.count
        guard count > 0 else { return }
        if AVSampleFormat(frame.pointee.format) == AV_SAMPLE_FMT_FLTP {
            for c in 0..<channels {
                guard let data = frame.pointee.extended_data[c] else { throw AudioError.corrupt(path: path, reason: "missing channel data") }
                data.withMemoryRebound(to: Float.self, capacity: count) { planes[c].append(contentsOf: UnsafeBufferPointer(start: $0, count: count)) }
            }
            return
        }
        if swr == nil {
            var outLayout = frame.pointee.ch_layout, inLayout = frame.pointee.ch_layout
            let status = swr_alloc_set_opts2(&swr, &outLayout, AV_SAMPLE_FMT_FLTP, frame.pointee.sample_rate,
                                             &inLayout, AVSampleFormat(frame.pointee.format), frame.pointee.sample_rate, 0, nil)
            guard status >= 0, swr != nil, swr_init(swr) >= 0 else {
                throw AudioError.corrupt(path: path, reason: "no conversion to float for this sample format")
            }
        }
        scratch = [Float](repeating: 0, count: count * channels)
        let converted = try scratch.withUnsafeMutableBufferPointer { out -> Int32 in
            var outputs = (0..<channels).map { c in UnsafeMutableRawPointer(out.baseAddress! + c * count).assumingMemoryBound(to: UInt8.self) as UnsafeMutablePointer<UInt8>? }
            guard let input = frame.pointee.extended_data else { throw AudioError.corrupt(path: path, reason: "missing frame data") }
            return outputs.withUnsafeMutableBufferPointer { o in
                swr_convert(swr, o.baseAddress, Int32(count), UnsafeMutableRawPointer(input).assumingMemoryBound(to: UnsafePointer<UInt8>?.self), Int32(count))
            }
        }
        guard converted == Int32(count) else { throw AudioError.corrupt(path: path, reason: "sample format conversion failed") }
        for c in 0..<channels { planes[c].append(contentsOf: scratch[(c * count)..<((c + 1) * count)]) }
    }

    mutating func free() { swr_free(&swr) }
}
