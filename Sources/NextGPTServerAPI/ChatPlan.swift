import Foundation
import NextGPTAnyToAny
import NextGPTDiffusion
import NextGPTLlama
import NextGPTMedia
import NextGPTSessions

/// A chat request checked against the container and turned into a session call, before it
/// waits for the model: every field error is found here, none after minutes in the queue.
package struct ChatPlan: Sendable {
    package enum Work: Sendable {
        case anyToAny(NExTGPTRequest)
        /// Vicuna v0's template over the messages, for a container without NExT-GPT's projections.
        case vicuna(prompt: String, maxNewTokens: Int, sampling: SamplingParameters)
    }

    package var model: ContainerCatalog.Model
    package var work: Work
    package var stream: Bool
    package var inlineMedia: Bool
    package var promptTokens: Int

    /// NExT-GPT's demo reply length.
    static let defaultMaxTokens = 246

    package init(_ body: Data, catalog: ContainerCatalog, uploads: Uploads) throws {
        let request: ChatCompletionRequest
        do { request = try JSONDecoder().decode(ChatCompletionRequest.self, from: body) } catch let error as DecodingError {
            throw APIError(error)
        }
        let options = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:]
        model = try catalog.model(request.model, endpoint: "chat")
        stream = request.stream ?? false
        switch request.mediaFormat ?? "url" {
        case "url": inlineMedia = false
        case "data_url": inlineMedia = true
        case let other: throw APIError.invalid("media_format", "'media_format' must be url or data_url, not '\(other)'")
        }
        if let t = request.temperature, !(0...2).contains(t) { throw APIError.invalid("temperature", "'temperature' must be between 0 and 2") }
        if let p = request.topP, !(p > 0 && p <= 1) { throw APIError.invalid("top_p", "'top_p' must be in (0, 1]") }
        if let k = request.topK, k < 0 { throw APIError.invalid("top_k", "'top_k' must be 0 (off) or positive") }
        if let seed = request.seed, seed < 0 { throw APIError.invalid("seed", "'seed' must be non-negative") }
        let maxTokensField = request.maxCompletionTokens != nil ? "max_completion_tokens" : "max_tokens"
        let requestedMax = request.maxCompletionTokens ?? request.maxTokens
        if let n = requestedMax, n < 1 { throw APIError.invalid(maxTokensField, "'\(maxTokensField)' must be at least 1") }

        let turns = try Self.turns(request.messages, catalog: catalog, model: model, uploads: uploads)
        guard let tokenizer = catalog.tokenizer, let context = catalog.contextLength else {
            throw APIError.absent("this container has no language model")
        }
        switch model {
        case .nextgpt:
            var run = NExTGPTRequest(text: turns.last.text)
            (run.images, run.audios, run.videos) = (turns.last.images, turns.last.audios, turns.last.videos)
            run.history = turns.history.map { turn in
                var asked = NExTGPTRequest(text: turn.question.text)
                (asked.images, asked.audios, asked.videos) = (turn.question.images, turn.question.audios, turn.question.videos)
                return (NExTGPTSession.questionText(asked), turn.answer)
            }
            // The LLM sees each tag as one embedding; the rest is text.
            let segments = NExTGPTPrompt.segments(NExTGPTSession.turnText(run), chunking: run.chunking)
            promptTokens = segments.reduce(0) { count, segment in
                switch segment {
                case .text(let text): return count + tokenizer.encode(text, addBOS: true).count
                case .media: return count + 3  // <Img>, the embedding, </Img>
                }
            }
            run.generation.maxNewTokens = try Self.maxNewTokens(requestedMax, field: maxTokensField, prompt: promptTokens, context: context)
            if let t = request.temperature { run.generation.sampling.temperature = Float(t) }
            if let p = request.topP { run.generation.sampling.topP = Float(p) }
            if let k = request.topK { run.generation.sampling.topK = k }
            if let seed = request.seed { run.generation.sampling.seed = UInt64(seed) }
            for (index, name) in (request.forceOutputs ?? []).enumerated() {
                guard let modality = SignalModality(rawValue: name) else {
                    throw APIError.invalid("force_outputs[\(index)]", "'force_outputs[\(index)]' must be image, audio or video, not '\(name)'")
                }
                guard catalog.outputs.contains(name) else {
                    throw APIError.invalid("force_outputs[\(index)]", "this container has no \(name) decoder (it gives: \(catalog.outputs.joined(separator: ", ")))")
                }
                run.forcedOutputs.insert(modality)
            }
            try Self.decoderOptions(options, into: &run)
            work = .anyToAny(run)
        case .vicuna:
            if !turns.last.images.isEmpty || !turns.last.audios.isEmpty || !turns.last.videos.isEmpty || turns.history.contains(where: { !$0.question.isTextOnly }) {
                throw APIError.invalid("messages", "model vicuna takes text only (this container has no NExT-GPT projections)")
            }
            if request.forceOutputs?.isEmpty == false { throw APIError.invalid("force_outputs", "model vicuna gives text only") }
            // FastChat's Vicuna v0 turns, as `nextgpt chat` writes them.
            var prompt = turns.system.isEmpty ? "" : "\(turns.system)\n\n"
            for turn in turns.history { prompt += "### Human: \(turn.question.text)\n### Assistant: \(turn.answer)\n" }
            prompt += "### Human: \(turns.last.text)\n### Assistant:"
            promptTokens = tokenizer.encode(prompt, addBOS: true).count
            var sampling = SamplingParameters()
            if let t = request.temperature { sampling.temperature = Float(t) }
            if let p = request.topP { sampling.topP = Float(p) }
            if let k = request.topK { sampling.topK = k }
            if let seed = request.seed { sampling.seed = UInt64(seed) }
            work = .vicuna(prompt: prompt, maxNewTokens: try Self.maxNewTokens(requestedMax, field: maxTokensField, prompt: promptTokens, context: context),
                           sampling: sampling)
        default:
            throw APIError.invalid("model", "model \(model.rawValue) does not chat")
        }
    }

    /// The reply length asked for, or what fits (up to the demo's 246); a prompt past the context is refused.
    static func maxNewTokens(_ requested: Int?, field: String, prompt: Int, context: Int) throws -> Int {
        let room = context - prompt
        guard room > 0, requested.map({ $0 <= room }) ?? true else {
            throw APIError.invalid(requested == nil ? "messages" : field,
                                   "this model's context is \(context) tokens; the messages take \(prompt)" + (requested.map { " and \(field) asks \($0) more" } ?? ""),
                                   code: "context_length_exceeded")
        }
        return requested ?? min(defaultMaxTokens, room)
    }

    /// `image_options`, `audio_options`, `video_options`: the decoders' requests in diffusers' names.
    static func decoderOptions(_ body: [String: Any], into run: inout NExTGPTRequest) throws {
        func decode<R: JSONRequest>(_ key: String, _ base: R, prompt: Bool) throws -> R? {
            guard let value = body[key] else { return nil }
            guard var object = value as? [String: Any] else { throw APIError.invalid(key, "'\(key)' must be an object") }
            // The conditioning comes from the LLM: the request's own fields start from the session's defaults.
            let defaults = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(base)) as? [String: Any] ?? [:]
            object.merge(defaults) { given, _ in given }
            if prompt { object["prompt"] = "" }
            do { return try R(json: try JSONSerialization.data(withJSONObject: object)) } catch let error as RequestArgumentError {
                throw APIError(error, prefix: "\(key).")
            }
        }
        if let image = try decode("image_options", run.image, prompt: true) {
            try GenerationRequest.check(steps: image.steps, guidance: image.guidanceScale, scheduler: image.scheduler, width: image.width,
                                          height: image.height, prefix: "image_options.")
            run.image = image
        }
        if let audio = try decode("audio_options", run.audio, prompt: true) {
            try GenerationRequest.check(steps: audio.steps, guidance: audio.guidanceScale, scheduler: audio.scheduler, width: nil, height: nil,
                                          prefix: "audio_options.")
            run.audio = audio
        }
        if let video = try decode("video_options", run.video, prompt: true) {
            try GenerationRequest.check(steps: video.steps, guidance: video.guidanceScale, scheduler: video.scheduler, width: video.width,
                                          height: video.height, prefix: "video_options.")
            guard (1...256).contains(video.numFrames) else {
                throw APIError.invalid("video_options.num_frames", "'video_options.num_frames' must be from 1 to 256")
            }
            run.video = video
        }
        if let fps = body["video_fps"] {
            guard let n = fps as? Int, n > 0 else { throw APIError.invalid("video_fps", "'video_fps' must be a positive integer") }
            run.videoFPS = n
        }
    }

    struct Question {
        var text = ""
        var images: [String] = [], audios: [String] = [], videos: [String] = []
        var isTextOnly: Bool { images.isEmpty && audios.isEmpty && videos.isEmpty }
    }

    /// Messages → system text, earlier (question, answer) turns and the last question, every
    /// medium written to a file that its decoder has read once.
    static func turns(_ messages: [ChatMessage], catalog: ContainerCatalog, model: ContainerCatalog.Model, uploads: Uploads) throws
        -> (system: String, history: [(question: Question, answer: String)], last: Question) {
        guard !messages.isEmpty else { throw APIError.invalid("messages", "'messages' must hold at least one message") }
        var system: [String] = []
        var history: [(question: Question, answer: String)] = []
        var pending: Question?
        for (i, message) in messages.enumerated() {
            switch message.role {
            case "system", "developer":
                system += message.parts.compactMap { if case .text(let t) = $0 { return t } else { return nil } }
            case "user":
                var question = pending ?? Question()
                for (j, part) in message.parts.enumerated() {
                    switch part {
                    case .text(let text): question.text += (question.text.isEmpty ? "" : "\n") + text
                    case .media(let kind, let url):
                        let path = try media(url, kind: kind, field: "messages[\(i)].content[\(j)]", catalog: catalog, model: model, uploads: uploads)
                        switch kind {
                        case .image: question.images.append(path)
                        case .audio: question.audios.append(path)
                        case .video: question.videos.append(path)
                        }
                    }
                }
                pending = question
            case "assistant":
                let answer = message.parts.compactMap { if case .text(let t) = $0 { return t } else { return nil } }.joined()
                if let question = pending { history.append((question, answer)) }
                pending = nil
            default:
                throw APIError.invalid("messages[\(i)].role", "'messages[\(i)].role' must be system, user or assistant, not '\(message.role)'")
            }
        }
        guard let last = pending else {
            throw APIError.invalid("messages", "the last message must be the user's")
        }
        return (system.joined(separator: "\n"), history, last)
    }

    /// A medium's data URL → a file its reader has opened (so a bad one is this request's 400, not a failed run).
    static func media(_ url: String, kind: ContentPart.MediaKind, field: String, catalog: ContainerCatalog, model: ContainerCatalog.Model,
                      uploads: Uploads) throws -> String {
        guard model == .nextgpt else { throw APIError.invalid(field, "model \(model.rawValue) takes text only") }
        guard catalog.hasImageBind else {
            throw APIError.invalid(field, "this container has no ImageBind, so it cannot take \(kind.rawValue) input (convert with --imagebind)",
                                   code: "model_not_available")
        }
        guard let (data, mime) = DataURL.decode(url) else {
            throw APIError.invalid(field, "'\(field)' must be a data URL (data:<type>;base64,…); links are not fetched")
        }
        let path = try uploads.write(data, ext: DataURL.fileExtension(mime: mime, kind: kind))
        do {
            switch kind {
            case .image: _ = try ImageFile.read(path: path)
            case .audio: _ = try AudioFile.read(path: path)
            case .video: _ = try VideoFile(path: path)
            }
        } catch {
            throw APIError.invalid(field, "the \(kind.rawValue) in '\(field)' does not decode (\(mime), \(data.count) bytes): \("\(error)".replacingOccurrences(of: path, with: "upload"))",
                                   code: "invalid_media")
        }
        return path
    }
}
