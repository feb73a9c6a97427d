import Foundation
import NextGPTKernels
import NextGPTLlama

/// What `nextgpt serve` takes: the container, where to listen, who may call, and the limits.
public struct ServerOptions: Sendable {
    public var modelPath: String
    public var host = "127.0.0.1"
    /// 0 lets the system choose (tests); `onListening` reports the port bound.
    public var port = 8080
    /// When set, `/v1/*` and `/metrics` want `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Requests that may wait while one computes; more are refused with 429 and Retry-After.
    public var maxQueue = 8
    /// Largest request body (media arrive inside it as base64).
    public var maxUploadBytes = 32 << 20
    /// Where generated files are kept and served from (`/files/<name>`); nil: a new temporary folder.
    public var mediaDirectory: String?
    /// Generated files are removed, oldest first, past this total size or this age.
    public var mediaMaxBytes = 1 << 30
    public var mediaMaxAgeSeconds: Double = 3600
    /// Worker threads of the models (nil: all cores).
    public var threads: Int?
    /// How the LLM's KV caches store past keys and values.
    public var cacheType = LlamaCache.defaultType

    public init(modelPath: String) { self.modelPath = modelPath }
}
