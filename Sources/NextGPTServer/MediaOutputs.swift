import Foundation
import NextGPTKernels
import NextGPTMedia
import NextGPTServerAPI

/// A generated file as a reply carries it: a link under /files, or the file inline as a data URL.
struct MediaItem: Sendable {
    var kind: String
    var name: String
    var mime: String
    var path: String

    func json(baseURL: String, inline: Bool) -> [String: Any] {
        ["type": kind, "mime_type": mime, "url": inline ? dataURL : "\(baseURL)/files/\(name)"]
    }

    var dataURL: String { DataURL.encode((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data(), mime: mime) }
    var base64: String { ((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()).base64EncodedString() }
}

/// Decoder outputs → served files (PNG, WAV, MP4), written complete before they get a name.
extension MediaStore {
    func image(_ decoded: Tensor, text: [(key: String, value: String)]) throws -> MediaItem {
        let image = try VaeImageProcessor.images(from: decoded)[0]
        let name = try store(ext: "png") { try PNGImage.write(image, to: $0, text: text + [("software", "nextgpt serve")]) }
        return MediaItem(kind: "image", name: name, mime: "image/png", path: "\(directory)/\(name)")
    }

    func audio(_ waveform: Tensor, sampleRate: Int, title: String) throws -> MediaItem {
        let name = try store(ext: "wav") {
            try WAVWriter.write(waveform.values, sampleRate: sampleRate, metadata: WAVWriter.Metadata(title: title, software: "nextgpt serve"), to: $0)
        }
        return MediaItem(kind: "audio", name: name, mime: "audio/wav", path: "\(directory)/\(name)")
    }

    func video(_ frames: Tensor, fps: Int) throws -> MediaItem {
        let images = try VideoFrames.images(from: frames)
        let name = try store(ext: "mp4") { _ = try VideoWriter.write(images, to: $0, fps: fps, container: .mp4) }
        return MediaItem(kind: "video", name: name, mime: "video/mp4", path: "\(directory)/\(name)")
    }
}
