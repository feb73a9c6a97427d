import Foundation
import Hummingbird
import NextGPTLayers
import NextGPTServerAPI

/// `nextgpt serve`: OpenAI-style endpoints and the chat page over one mapped container. The
/// handlers parse, call a session on the compute queue and serialise; nothing here computes.
public struct NextGPTServer: Sendable {
    let state: ServerState

    /// Opens the container and reads what it serves (a bad file fails here, before listening).
    public init(options: ServerOptions) throws {
        state = try ServerState(options: options)
    }

    /// Model ids the container serves (`nextgpt`, `vicuna`, `sd15`, `audioldm`, `zeroscope`).
    public var models: [String] { state.catalog.models.map(\.rawValue) }
    /// The folder generated files are served from.
    public var mediaDirectory: String { state.store.directory }

    /// Listens until the task is cancelled or (with `handlesSignals`) SIGTERM or SIGINT arrives;
    /// `onListening` gets the address bound (the port the system chose for port 0).
    public func run(handlesSignals: Bool = true,
                    onListening: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in }) async throws {
        let options = state.options
        let app = Application(
            router: makeRouter(),
            configuration: ApplicationConfiguration(address: .hostname(options.host, port: options.port), serverName: "nextgpt"),
            onServerRunning: { channel in await onListening(options.host, channel.localAddress?.port ?? options.port) })
        if handlesSignals { try await app.runService() } else { try await app.runService(gracefulShutdownSignals: []) }
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let chat = ChatEndpoint(state: state)
        let generations = GenerationEndpoints(state: state)
        let state = self.state
        router.get("/") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: WebPage.html)))
        }
        router.get("/health", use: handler("health", auth: false) { _, _, _, _ in
            JSONResponse.make(["status": "ok", "busy": state.queue.busyNow.load(ordering: .relaxed),
                               "queue_length": state.queue.waitingCount.load(ordering: .relaxed),
                               "models": state.catalog.models.map(\.rawValue)])
        })
        router.get("/metrics", use: handler("metrics") { _, _, _, _ in
            let text = state.metrics.prometheus(queueLength: state.queue.waitingCount.load(ordering: .relaxed),
                                                busy: state.queue.busyNow.load(ordering: .relaxed), media: state.store.usage())
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
        })
        router.get("/v1/models", use: handler("models") { _, _, _, _ in
            JSONResponse.make(["object": "list", "data": state.catalog.models.map { model -> [String: Any] in
                var entry: [String: Any] = ["id": model.rawValue, "object": "model", "created": Int(state.started.timeIntervalSince1970),
                                            "owned_by": "nextgpt", "endpoint": model.endpoint]
                if model == .nextgpt {
                    entry["inputs"] = ["text"] + (state.catalog.hasImageBind ? ["image", "audio", "video"] : [])
                    entry["outputs"] = ["text"] + state.catalog.outputs
                }
                return entry
            }, "components": state.catalog.components])
        })
        router.post("/v1/chat/completions", use: handler("chat", body: true) { try await chat.respond($0, body: $1, baseURL: $2, job: $3) })
        router.post("/v1/images/generations", use: handler("images", body: true) { try await generations.images($0, body: $1, baseURL: $2, job: $3) })
        router.post("/v1/audio/generations", use: handler("audio", body: true) { try await generations.audio($0, body: $1, baseURL: $2, job: $3) })
        router.post("/v1/videos/generations", use: handler("videos", body: true) { try await generations.videos($0, body: $1, baseURL: $2, job: $3) })
        router.get("/files/:name") { _, context in
            guard let name = context.parameters.get("name"), let path = state.store.path(of: name),
                  let data = FileManager.default.contents(atPath: path) else {
                return APIError(status: .notFound, message: "no such file (generated files expire)", code: "file_not_found").response
            }
            let mime = MediaStore.mimeTypes[String(name.split(separator: ".").last ?? "")] ?? "application/octet-stream"
            return Response(status: .ok, headers: [.contentType: mime, .cacheControl: "private, max-age=3600"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
        }
        return router
    }

    /// Wraps an endpoint: the API key, the body (within the upload limit), errors as OpenAI's JSON,
    /// counters, and the request's `Job`, cancelled when the client closes its connection.
    func handler(_ endpoint: String, auth: Bool = true, body readsBody: Bool = false,
                 _ respond: @escaping @Sendable (Request, Data, String, Job) async throws -> Response)
        -> @Sendable (Request, BasicRequestContext) async throws -> Response {
        let state = self.state
        return { request, context in
            var status = 200
            defer { state.metrics.recordRequest(endpoint: endpoint, status: status) }
            let job = Job(metrics: state.metrics)
            let authority = request.head.authority ?? "\(state.options.host):\(state.options.port)"
            let baseURL = "http://\(authority)"
            do {
                if auth, let key = state.options.apiKey, request.headers[.authorization] != "Bearer \(key)" {
                    throw APIError(status: .unauthorized, message: "missing or wrong API key (Authorization: Bearer …)", type: "authentication_error",
                                   code: "invalid_api_key")
                }
                let response: Response
                if readsBody {
                    let limit = state.options.maxUploadBytes
                    let tooLarge = APIError(status: .contentTooLarge, message: "the request body is larger than the server's upload limit of \(limit / (1 << 20)) MB (--max-upload-mb)",
                                            param: "body", code: "upload_too_large")
                    if let length = request.headers[.contentLength].flatMap(Int.init), length > limit { throw tooLarge }
                    // Hummingbird's way to hear a client go: the body is read through this handler,
                    // whose inbound side then waits for the connection's end.
                    response = try await request.body.consumeWithInboundCloseHandler({ body in
                        var data = Data()
                        var overflow = false
                        // Read to the end even past the limit, so the connection stays in step.
                        for try await buffer in body where !overflow {
                            if data.count + buffer.readableBytes > limit { overflow = true } else { data.append(contentsOf: buffer.readableBytesView) }
                        }
                        if overflow { return tooLarge.response }
                        let response = try await respond(request, data, baseURL, job)
                        job.markAnswered()
                        return response
                    }, onInboundClosed: { job.inboundClosed() })
                } else {
                    response = try await respond(request, Data(), baseURL, job)
                }
                status = Int(response.status.code)
                return response
            } catch let error as APIError {
                status = Int(error.status.code)
                return error.response
            } catch is CancellationError {
                state.metrics.recordCancelled()
                status = 499  // nginx's "client closed request": nobody reads this answer
                return Response(status: .init(code: 499, reasonPhrase: "Client Closed Request"))
            } catch {
                status = 500
                context.logger.error("\(request.method) \(request.uri.path): \(error)")
                return APIError(status: .internalServerError, message: "\(error)", type: "server_error").response
            }
        }
    }
}
