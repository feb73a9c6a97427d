import CFFmpeg

/// libav* print their own diagnostics on stderr ("[mjpeg @ 0x…] huffman table decode error"); the
/// readers report every failure themselves, naming the file, so the libraries are kept quiet.
/// Set once per process, before the first file is opened (an app embedding this library loses
/// FFmpeg's own log lines; our errors carry their reasons).
enum FFmpegLog {
    static let quiet: Void = { av_log_set_level(AV_LOG_QUIET) }()
}
