import CFFmpeg

/// Process-wide settings of libav*, made once before the first file is opened.
enum FFmpegLog {
    /// libav* print their own diagnostics on stderr ("[mjpeg @ 0x…] huffman table decode error"); the
    /// readers report every failure themselves, naming the file, so the libraries are kept quiet
    /// (an app embedding this library loses FFmpeg's own log lines; our errors carry their reasons).
    /// The same first use caps what libav* may allocate in one block (`av_max_alloc`, INT_MAX by
    /// default): demuxers size buffers from the sizes a file declares, and a 26 KB MP4 found by the
    /// mp4 fuzz target made libavformat ask for 1.29 GB while opening it. The cap is twice the
    /// largest decoded frame the readers accept in RGB (`VideoFile.maxPixels` × 3 bytes); past it
    /// the demuxer or decoder fails with ENOMEM, which the readers report as a corrupt file.
    static let quiet: Void = {
        av_log_set_level(AV_LOG_QUIET)
        av_max_alloc(maxBlockBytes)
    }()

    static let maxBlockBytes = 2 * 3 * VideoFile.maxPixels
}

/// libav*'s words for a negative status code (`av_strerror`).
enum FFmpegStatus {
    static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 128)
        av_strerror(code, &buffer, buffer.count)
        return String(nulTerminated: buffer)
    }
}

extension String {
    /// The text of a C library's message buffer, up to its first NUL.
    init(nulTerminated buffer: [CChar]) {
        self.init(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
