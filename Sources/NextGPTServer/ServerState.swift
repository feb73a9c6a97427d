import Foundation
import NextGPTKernels
import NextGPTLayers
import NextGPTServerAPI
import NextGPTSessions
import Synchronization

/// What every handler shares: the mapped container and what it serves, the queue, the files,
/// the counters. Models are built per request on the mapped file and their pages released after,
/// so memory stays that of one request's model; the Vicuna-only chat keeps its model.
final class ServerState: Sendable {
    let options: ServerOptions
    let file: ModelFile
    let catalog: ContainerCatalog
    let context: ExecutionContext
    let queue: ComputeQueue
    let store: MediaStore
    let metrics = ServerMetrics()
    let started = Date()
    private let vicuna = Mutex<LlamaSession?>(nil)

    init(options: ServerOptions) throws {
        self.options = options
        file = try ModelFile(path: options.modelPath)
        catalog = try ContainerCatalog(file: file)
        context = ExecutionContext(threads: options.threads)
        queue = ComputeQueue(capacity: options.maxQueue)
        store = try MediaStore(directory: options.mediaDirectory, maxBytes: options.mediaMaxBytes, maxAge: options.mediaMaxAgeSeconds)
    }

    /// The Vicuna-only chat's model, loaded by the first request (on the compute thread).
    func vicunaSession() throws -> LlamaSession {
        if let session = vicuna.withLock({ $0 }) { return session }
        var llamaOptions = LlamaSession.Options(path: options.modelPath)
        llamaOptions.cacheType = options.cacheType
        let session = try LlamaSession(llamaOptions, context: context)
        vicuna.withLock { $0 = session }
        return session
    }

    /// Whether a new request would be queued rather than refused (a stream checks before it answers 200).
    var hasRoom: Bool { !queue.busyNow.load(ordering: .relaxed) || queue.waitingCount.load(ordering: .relaxed) < queue.capacity }

    /// Seconds a refused client should wait: the queue ahead times the mean job.
    var retryAfter: Int { max(1, Int((Double(queue.waitingCount.load(ordering: .relaxed) + 1) * metrics.meanJobSeconds).rounded(.up))) }

    /// Runs `body` when the model is free; a full queue is a 429 with Retry-After.
    func compute<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let start = Date()
        do {
            let value = try await queue.run(body)
            metrics.recordJob(seconds: Date().timeIntervalSince(start))
            return value
        } catch is ComputeQueue.Full {
            metrics.recordRejected()
            throw APIError(status: .tooManyRequests, message: "the server is busy: \(queue.capacity) requests already wait for the model",
                           type: "rate_limit_error", code: "queue_full", retryAfter: retryAfter)
        }
    }
}
