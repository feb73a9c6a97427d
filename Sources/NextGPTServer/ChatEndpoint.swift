import Foundation
import Hummingbird
import NextGPTCore
import NextGPTLlama
import NextGPTServerAPI
import NextGPTSessions

/// What a chat turn produced, ready to serialise.
struct ChatOutput: Sendable {
    var text = ""
    var finishReason = "stop"
    var completionTokens = 0
    var media: [MediaItem] = []
    var skipped: [(modality: String, reason: String)] = []
}

/// `POST /v1/chat/completions`: OpenAI's chat completion, whole or streamed as server-sent events.
struct ChatEndpoint: Sendable {
    let state: ServerState

    func respond(_ request: Request, body: Data, baseURL: String, job: Job) async throws -> Response {
        let uploads = try Uploads(root: state.store.directory)
        let plan: ChatPlan
        do { plan = try ChatPlan(body, catalog: state.catalog, uploads: uploads) } catch {
            uploads.remove()
            throw error
        }
        let id = "chatcmpl-\(MediaStore.randomName())"
        let created = Int(Date().timeIntervalSince1970)
        let state = self.state
        guard plan.stream else {
            defer { uploads.remove() }
            let output = try await state.compute { try Self.compute(plan, state: state, job: job) { _ in } }
            let message: [String: Any] = ["role": "assistant", "content": output.text,
                                          "media": output.media.map { $0.json(baseURL: baseURL, inline: plan.inlineMedia) }]
            return JSONResponse.make([
                "id": id, "object": "chat.completion", "created": created, "model": plan.model.rawValue,
                "choices": [["index": 0, "message": message, "finish_reason": output.finishReason] as [String: Any]],
                "usage": Self.usage(plan, output),
                "nextgpt": ["skipped_outputs": output.skipped.map { ["modality": $0.modality, "reason": $0.reason] }],
            ])
        }
        // A stream answers 200 before it computes: a full queue is refused now, not inside the stream.
        guard state.hasRoom else {
            uploads.remove()
            state.metrics.recordRejected()
            throw APIError(status: .tooManyRequests, message: "the server is busy: \(state.queue.capacity) requests already wait for the model",
                           type: "rate_limit_error", code: "queue_full", retryAfter: state.retryAfter)
        }
        let model = plan.model.rawValue
        let chunk = { @Sendable (delta: [String: Any], finish: String?) -> [String: Any] in
            ["id": id, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [["index": 0, "delta": delta, "finish_reason": finish ?? NSNull()] as [String: Any]]]
        }
        let body = ResponseBody { writer in
            defer { uploads.remove() }
            let (events, continuation) = AsyncStream<StreamEvent>.makeStream()
            job.observe { continuation.yield(.progress($0)) }
            let computing = Task {
                defer { continuation.finish() }
                return try await state.compute { try Self.compute(plan, state: state, job: job) { continuation.yield(.text($0)) } }
            }
            // Once the handler has answered, a gone client shows only as a failed write: write
            // something every second, so one is found within about a second, at any stage.
            let heartbeat = Task {
                while !Task.isCancelled {
                    try await Task.sleep(for: .seconds(1))
                    continuation.yield(.heartbeat)
                }
            }
            defer { heartbeat.cancel() }
            do {
                try await writer.write(SSE.data(chunk(["role": "assistant", "content": ""], nil)))
                var lastWrite = Date()
                for await event in events {
                    switch event {
                    case .text(let piece): try await writer.write(SSE.data(chunk(["content": piece], nil)))
                    case .progress(let update):
                        guard update.isComplete || Date().timeIntervalSince(lastWrite) > 0.25 else { continue }
                        // A comment line: clients skip it; the page shows it.
                        try await writer.write(SSE.comment("progress \(update.phase) \(update.completed)/\(update.total) \(update.unit)"))
                    case .heartbeat:
                        guard Date().timeIntervalSince(lastWrite) > 0.9 else { continue }
                        try await writer.write(SSE.comment("keep-alive"))
                    }
                    lastWrite = Date()
                }
            } catch {
                // The client is gone: stop the run at its next token or step, and let it leave the queue.
                job.cancel()
                _ = try? await computing.value
                state.metrics.recordCancelled()
                throw error
            }
            do {
                let output = try await computing.value
                var delta: [String: Any] = [:]
                if !output.media.isEmpty { delta["media"] = output.media.map { $0.json(baseURL: baseURL, inline: plan.inlineMedia) } }
                var last = chunk(delta, output.finishReason)
                last["usage"] = Self.usage(plan, output)
                if !output.skipped.isEmpty { last["nextgpt"] = ["skipped_outputs": output.skipped.map { ["modality": $0.modality, "reason": $0.reason] }] }
                try await writer.write(SSE.data(last))
            } catch let error as APIError {
                try await writer.write(SSE.data(error.json))
            } catch is CancellationError {
                state.metrics.recordCancelled()
                throw CancellationError()  // nobody is listening
            } catch {
                try await writer.write(SSE.data(APIError(status: .internalServerError, message: "\(error)", type: "server_error").json))
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    enum StreamEvent: Sendable {
        case text(String)
        case progress(ProgressUpdate)
        case heartbeat
    }

    static func usage(_ plan: ChatPlan, _ output: ChatOutput) -> [String: Int] {
        ["prompt_tokens": plan.promptTokens, "completion_tokens": output.completionTokens, "total_tokens": plan.promptTokens + output.completionTokens]
    }

    /// The session call, on the compute thread.
    static func compute(_ plan: ChatPlan, state: ServerState, job: Job, onText: (String) -> Void) throws -> ChatOutput {
        try job.checkCancellation()  // the client left while it waited
        var output = ChatOutput()
        switch plan.work {
        case .anyToAny(var run):
            run.generation.cacheType = state.options.cacheType
            let session = NExTGPTSession(path: state.options.modelPath, context: state.context)
            let result = try session.run(run, progress: job, onText: onText)
            try job.checkCancellation()
            output.text = result.reply.text
            output.completionTokens = result.reply.ids.count
            output.finishReason = result.reply.reason == .maxTokens ? "length" : "stop"
            if let llm = result.stages.first(where: { $0.name == "llm" }) { state.metrics.recordTokens(result.reply.ids.count, seconds: llm.seconds) }
            let title = run.text
            for image in result.images { output.media.append(try state.store.image(image, text: [("prompt", title)])) }
            for audio in result.audios { output.media.append(try state.store.audio(audio, sampleRate: result.audioSampleRate, title: title)) }
            for video in result.videos { output.media.append(try state.store.video(video, fps: run.videoFPS)) }
            output.skipped = result.skippedOutputs.map { ($0.modality.rawValue, $0.reason) }
        case .vicuna(let prompt, let maxNewTokens, let sampling):
            let llm = try state.vicunaSession()
            let ids = llm.tokenizer.encode(prompt, addBOS: true).map(Int.init)
            let generator = llm.makeGenerator(capacity: ids.count + maxNewTokens + 8)
            let generation = llm.generate([.tokens(ids)], generator: generator, maxNewTokens: maxNewTokens, sampling: sampling,
                                          stops: ["###"], progress: job, onText: onText)
            try job.checkCancellation()
            output.text = generation.text
            output.completionTokens = generation.ids.count
            output.finishReason = generation.reason == .maxTokens ? "length" : "stop"
            state.metrics.recordTokens(generation.ids.count, seconds: generation.stats.prefillSeconds + generation.stats.decodeSeconds)
        }
        return output
    }
}

/// Server-sent event framing.
enum SSE {
    static func data(_ object: Any) -> ByteBuffer {
        let json = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return ByteBuffer(string: "data: \(String(decoding: json, as: UTF8.self))\n\n")
    }

    static func comment(_ text: String) -> ByteBuffer { ByteBuffer(string: ": \(text)\n\n") }
}
