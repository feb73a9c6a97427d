import Foundation

/// OpenAI's chat completion request, with NExT-GPT's extras (`top_k`, `force_outputs`,
/// `image_options` / `audio_options` / `video_options` in the decoders' diffusers names, `video_fps`,
/// `media_format`). Unknown fields are ignored, as OpenAI-compatible servers do.
package struct ChatCompletionRequest: Decodable {
    package var model: String?
    package var messages: [ChatMessage]
    package var stream: Bool?
    package var maxTokens: Int?
    package var maxCompletionTokens: Int?
    package var temperature: Double?
    package var topP: Double?
    package var topK: Int?
    package var seed: Int64?
    package var forceOutputs: [String]?
    package var videoFPS: Int?
    /// `url` (links under /files, the default) or `data_url` (the media inline).
    package var mediaFormat: String?

    enum CodingKeys: String, CodingKey {
        case model, messages, stream, temperature, seed
        case maxTokens = "max_tokens"
        case maxCompletionTokens = "max_completion_tokens"
        case topP = "top_p"
        case topK = "top_k"
        case forceOutputs = "force_outputs"
        case videoFPS = "video_fps"
        case mediaFormat = "media_format"
    }
}

package struct ChatMessage: Decodable {
    package var role: String
    package var parts: [ContentPart]

    enum CodingKeys: String, CodingKey { case role, content }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        role = try c.decode(String.self, forKey: .role)
        if try c.decodeNil(forKey: .content) {
            parts = []
        } else if let text = try? c.decode(String.self, forKey: .content) {
            parts = [.text(text)]
        } else {
            parts = try c.decode([ContentPart].self, forKey: .content)
        }
    }
}

/// One content part: text, or a medium as a data URL (`image_url`, `video_url`) or base64 data
/// with its format (`input_audio`, OpenAI's shape).
package enum ContentPart: Decodable {
    case text(String)
    case media(MediaKind, url: String)

    package enum MediaKind: String, Sendable { case image, audio, video }

    enum CodingKeys: String, CodingKey {
        case type, text
        case imageURL = "image_url"
        case inputAudio = "input_audio"
        case audioURL = "audio_url"
        case videoURL = "video_url"
    }
    struct URLField: Decodable { var url: String }
    struct AudioField: Decodable { var data: String; var format: String }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decode(String.self, forKey: .type)
        switch type {
        case "text": self = .text(try c.decode(String.self, forKey: .text))
        case "image_url": self = .media(.image, url: try c.decode(URLField.self, forKey: .imageURL).url)
        case "video_url": self = .media(.video, url: try c.decode(URLField.self, forKey: .videoURL).url)
        case "audio_url": self = .media(.audio, url: try c.decode(URLField.self, forKey: .audioURL).url)
        case "input_audio":
            let audio = try c.decode(AudioField.self, forKey: .inputAudio)
            self = .media(.audio, url: "data:audio/\(audio.format);base64,\(audio.data)")
        default:
            throw DecodingError.dataCorruptedError(forKey: .type, in: c,
                debugDescription: "unknown content part type '\(type)' (text, image_url, input_audio, audio_url, video_url)")
        }
    }
}

/// `data:<mime>[;base64],<payload>` → the bytes and the file extension the decoders should see.
package enum DataURL {
    package static func decode(_ url: String) -> (data: Data, mime: String)? {
        guard url.hasPrefix("data:"), let comma = url.firstIndex(of: ",") else { return nil }
        let header = url[url.index(url.startIndex, offsetBy: 5)..<comma]
        let payload = String(url[url.index(after: comma)...])
        let fields = header.split(separator: ";").map(String.init)
        let mime = fields.first(where: { $0.contains("/") }) ?? "application/octet-stream"
        if fields.contains("base64") {
            guard let data = Data(base64Encoded: payload, options: .ignoreUnknownCharacters), !data.isEmpty else { return nil }
            return (data, mime)
        }
        guard let text = payload.removingPercentEncoding else { return nil }
        return (Data(text.utf8), mime)
    }

    package static func encode(_ data: Data, mime: String) -> String { "data:\(mime);base64,\(data.base64EncodedString())" }

    /// A file extension FFmpeg and libsndfile recognise for the MIME type (they also sniff contents).
    package static func fileExtension(mime: String, kind: ContentPart.MediaKind) -> String {
        let subtype = mime.split(separator: "/").last.map(String.init)?.lowercased() ?? ""
        let known = ["png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp", "gif": "gif", "bmp": "bmp",
                     "wav": "wav", "x-wav": "wav", "wave": "wav", "mpeg": kind == .video ? "mpg" : "mp3", "mp3": "mp3", "flac": "flac", "ogg": "ogg",
                     "mp4": "mp4", "webm": "webm", "quicktime": "mov", "x-matroska": "mkv"]
        return known[subtype] ?? (kind == .image ? "img" : kind == .audio ? "audio" : "video")
    }
}
