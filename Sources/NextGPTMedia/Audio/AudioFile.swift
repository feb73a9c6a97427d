import Foundation

/// Reads any audio file to a `Waveform` as `torchaudio.load` gives it: WAV, FLAC, OGG and the
/// rest of libsndfile's formats through libsndfile; MP3, AAC, M4A and anything libsndfile
/// refuses through libavformat + libavcodec. A bad file is an error naming it.
public enum AudioFile {
    public static func read(path: String) throws -> Waveform {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw AudioError.unreadable(path: path, reason: "no such file")
        }
        guard !isFolder.boolValue, FileManager.default.isReadableFile(atPath: path) else {
            throw AudioError.unreadable(path: path, reason: isFolder.boolValue ? "a folder" : "permission denied")
        }
        switch try SndfileReader.read(path: path) {
        case .waveform(let waveform): return waveform
        case .handOff: return try FFmpegAudioDecoder.read(path: path)
        case .notHandled(let sndfileReason):
            do { return try FFmpegAudioDecoder.read(path: path) } catch AudioError.corrupt(_, let reason) {
                throw AudioError.corrupt(path: path, reason: "libsndfile: \(sndfileReason); libavformat: \(reason)")
            }
        }
    }
}
