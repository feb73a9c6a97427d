import CFFmpeg
import Foundation

/// Still images (JPEG and anything else libavformat's image demuxers know) decoded with
/// libavcodec. Full-range YCbCr pictures (JPEG) take libjpeg's colour path (JPEGColor); other
/// pixel formats are converted to RGB24 by libswscale. The IDCT is libavcodec's, so JPEG values
/// can still differ from Pillow's (libjpeg-turbo) by a level or two.
public enum FFmpegImageDecoder {
    public static func read(path: String) throws -> RGBImage {
        var format: UnsafeMutablePointer<AVFormatContext>?
        _ = FFmpegLog.quiet
        var status = avformat_open_input(&format, path, nil, nil)
        guard status >= 0, format != nil else { throw ImageError.corrupt(path: path, reason: FFmpegStatus.message(status)) }
        defer { avformat_close_input(&format) }
        status = avformat_find_stream_info(format, nil)
        guard status >= 0 else { throw ImageError.corrupt(path: path, reason: FFmpegStatus.message(status)) }
        let streamIndex = av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard streamIndex >= 0, let stream = format!.pointee.streams[Int(streamIndex)],
              let parameters = stream.pointee.codecpar
        else { throw ImageError.corrupt(path: path, reason: "no image stream") }
        try RGBImage.checkDimensions(width: Int(parameters.pointee.width), height: Int(parameters.pointee.height), path: path)
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw ImageError.corrupt(path: path, reason: "no decoder for this format")
        }
        var context = avcodec_alloc_context3(codec)
        guard context != nil else { throw ImageError.corrupt(path: path, reason: "decoder allocation failed") }
        defer { avcodec_free_context(&context) }
        guard avcodec_parameters_to_context(context, parameters) >= 0 else {
            throw ImageError.corrupt(path: path, reason: "bad codec parameters")
        }
        status = avcodec_open2(context, codec, nil)
        guard status >= 0 else { throw ImageError.corrupt(path: path, reason: FFmpegStatus.message(status)) }

        var packet = av_packet_alloc()
        var frame = av_frame_alloc()
        defer {
            av_packet_free(&packet)
            av_frame_free(&frame)
        }
        guard packet != nil, frame != nil else { throw ImageError.corrupt(path: path, reason: "out of memory") }
        var decoded = false
        while !decoded {
            status = av_read_frame(format, packet)
            if status < 0 {
                // End of input: drain the decoder.
                avcodec_send_packet(context, nil)
                guard avcodec_receive_frame(context, frame) >= 0 else {
                    throw ImageError.corrupt(path: path, reason: "no decodable picture (\(FFmpegStatus.message(status)))")
                }
                decoded = true
                break
            }
            defer { av_packet_unref(packet) }
            guard packet!.pointee.stream_index == streamIndex else { continue }
            status = avcodec_send_packet(context, packet)
            guard status >= 0 else { throw ImageError.corrupt(path: path, reason: FFmpegStatus.message(status)) }
            let received = avcodec_receive_frame(context, frame)
            if received >= 0 { decoded = true } else if received != -EAGAIN {
                throw ImageError.corrupt(path: path, reason: FFmpegStatus.message(received))
            }
        }
        let f = frame!.pointee
        if f.decode_error_flags != 0 || (f.flags & AV_FRAME_FLAG_CORRUPT) != 0 {
            throw ImageError.corrupt(path: path, reason: "decoder reported a corrupt picture")
        }
        return try convert(frame!, path: path)
    }

    private static func convert(_ frame: UnsafeMutablePointer<AVFrame>, path: String) throws -> RGBImage {
        let width = Int(frame.pointee.width), height = Int(frame.pointee.height)
        guard width > 0, height > 0 else { throw ImageError.corrupt(path: path, reason: "empty picture") }
        try RGBImage.checkDimensions(width: width, height: height, path: path)
        let shifts: (Int, Int)?
        switch AVPixelFormat(frame.pointee.format) {
        case AV_PIX_FMT_YUVJ420P: shifts = (1, 1)
        case AV_PIX_FMT_YUVJ422P: shifts = (1, 0)
        case AV_PIX_FMT_YUVJ444P: shifts = (0, 0)
        default: shifts = nil
        }
        if let shifts, let y = frame.pointee.data.0, let cb = frame.pointee.data.1, let cr = frame.pointee.data.2 {
            let l = frame.pointee.linesize
            let planes = JPEGColor.Planes(
                width: width, height: height, chromaShiftX: shifts.0, chromaShiftY: shifts.1,
                y: (UnsafePointer(y), Int(l.0)), cb: (UnsafePointer(cb), Int(l.1)), cr: (UnsafePointer(cr), Int(l.2)))
            return try RGBImage(width: width, height: height, pixels: JPEGColor.rgb(planes))
        }
        let flags = SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT | SWS_BITEXACT
        guard let scaler = sws_getContext(
            Int32(width), Int32(height), AVPixelFormat(frame.pointee.format), Int32(width), Int32(height),
            AV_PIX_FMT_RGB24, flags, nil, nil, nil)
        else { throw ImageError.corrupt(path: path, reason: "no conversion to RGB for this pixel format") }
        defer { sws_freeContext(scaler) }
        guard let pixels = FFmpegRGB.pixels(of: frame, scaler: scaler, width: width, height: height) else {
            throw ImageError.corrupt(path: path, reason: "colour conversion failed")
        }
        return try RGBImage(width: width, height: height, pixels: pixels)
    }
}
