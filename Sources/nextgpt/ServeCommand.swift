import ArgumentParser
import Foundation
import NextGPTKernels
import NextGPTLlama
import NextGPTServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "HTTP server: OpenAI-style endpoints and a chat page over one container.",
        discussion: """
        Endpoints: POST /v1/chat/completions (text, image_url, input_audio and video_url parts as data
        URLs; stream: true for server-sent events; generated media as links under /files/, or
        inline with media_format: data_url), POST /v1/images/generations, /v1/audio/generations,
        /v1/videos/generations, GET /v1/models, /health, /metrics (Prometheus), and the chat page
        at /. One request computes at a time; --max-queue more wait, the rest get 429 with
        Retry-After. A client that disconnects cancels its request at the next token or step.

        Examples:
          nextgpt serve -m nextgpt-q4_0.gguf
          nextgpt serve -m nextgpt-q4_0.gguf --host 0.0.0.0 --port 8080 --api-key secret --max-queue 4
          curl localhost:8080/v1/chat/completions -d '{"messages":[{"role":"user","content":"Hello"}]}'
        """)

    @Option(name: .shortAndLong, help: ArgumentHelp("The container.", valueName: "file.gguf"))
    var model: String

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on (0: any free port).")
    var port = 8080

    @Option(name: .customLong("api-key"), help: "Require `Authorization: Bearer KEY` on /v1/* and /metrics.")
    var apiKey: String?

    @Option(name: .customLong("max-queue"), help: "Requests that may wait while one computes.")
    var maxQueue = 8

    @Option(name: .customLong("max-upload-mb"), help: "Largest request body in MB (media arrive inside it).")
    var maxUploadMB = 32

    @Option(name: .customLong("media-dir"), help: ArgumentHelp("Folder for generated files (default: a new temporary folder).", valueName: "dir"))
    var mediaDirectory: String?

    @Option(name: .customLong("media-max-mb"), help: "Generated files kept, in MB in all (oldest removed first).")
    var mediaMaxMB = 1024

    @Option(name: .customLong("media-max-age"), help: "Seconds a generated file stays served.")
    var mediaMaxAge = 3600.0

    @Option(help: "Worker threads (default: all cores).")
    var threads: Int?

    @Option(help: ArgumentHelp("How the KV cache stores past keys and values: f32, or f16 (half the bytes a decoded token reads; llama.cpp's default).", valueName: "f32|f16"))
    var cacheType = LlamaCache.defaultType

    @OptionGroup var checksums: CheckOption

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be 0 or more") }
        guard maxUploadMB > 0, mediaMaxMB > 0, mediaMaxAge > 0 else { throw ValidationError("--max-upload-mb, --media-max-mb and --media-max-age must be positive") }
    }

    func run() async throws {
        // The server may run every component the container holds.
        try checksums.verify(model) { $0 }
        var options = ServerOptions(modelPath: model)
        options.host = host
        options.port = port
        options.apiKey = apiKey
        options.maxQueue = maxQueue
        options.maxUploadBytes = maxUploadMB << 20
        options.mediaDirectory = mediaDirectory
        options.mediaMaxBytes = mediaMaxMB << 20
        options.mediaMaxAgeSeconds = mediaMaxAge
        options.threads = threads
        options.cacheType = cacheType
        let server: NextGPTServer
        do { server = try NextGPTServer(options: options) } catch let error as CustomStringConvertible where error is Error {
            throw Failure(error.description)
        }
        try await server.run { host, port in
            FileHandle.standardError.write(Data("nextgpt serve: \(server.models.joined(separator: ", ")) on http://\(host):\(port)/ (files in \(server.mediaDirectory))\n".utf8))
        }
    }
}
