import Foundation
import NextGPTConvert
import NextGPTFormats
import NextGPTServer
import NextGPTTestSupport
import XCTest

/// The tiny containers the server tests run on, converted once per run from the committed fixtures.
enum TinyContainers {
    static let folder = TestSupport.temporaryDirectory("server")
    static let lock = NSLock()

    /// Every component: NExT-GPT's LLM and projections, ImageBind, SD 1.5, AudioLDM, ZeroScope.
    static var full: String { get throws { try make("full", vicuna: true, delta: true, imagebind: true, pipelines: ["sd15", "audioldm", "zeroscope"]) } }
    /// Only Stable Diffusion: draws, does not chat.
    static var sdOnly: String { get throws { try make("sd-only", pipelines: ["sd15"]) } }
    /// Only Vicuna without NExT-GPT's delta: chats in text, draws nothing.
    static var llmOnly: String { get throws { try make("llm-only", vicuna: true) } }

    static func make(_ name: String, vicuna: Bool = false, delta: Bool = false, imagebind: Bool = false, pipelines: [String] = []) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let path = "\(folder)/\(name).gguf"
        if FileManager.default.fileExists(atPath: path) { return path }
        let fixtures = TestSupport.fixtures
        var plan = ConversionPlan()
        if vicuna {
            let nextgpt = delta ? try NextGPTDelta(path: "\(fixtures)/nextgpt-delta", loraAlpha: 16) : nil
            plan.components += try LlamaComponent.load(folder: "\(fixtures)/vicuna", delta: nextgpt, mergeDeltaLora: false)
        }
        if imagebind { plan.components.append(try ImageBindComponent.load(path: "\(fixtures)/imagebind/imagebind_huge.pth")) }
        for pipeline in pipelines { try PipelineSource.load("\(fixtures)/\(pipeline)", pipeline: pipeline, into: &plan) }
        var options = ConversionOptions(policy: QuantizationPolicy(type: .f32, rules: []))
        options.hashSources = false
        _ = try Converter.convert(plan, options: options, to: path)
        return path
    }
}

/// A server on a loopback port the system chose, stopped by `stop()`.
final class RunningServer: @unchecked Sendable {  // `port` is written once, before `init` returns
    let server: NextGPTServer
    private var task: Task<Void, any Error>?
    private(set) var port = 0

    init(_ options: ServerOptions) throws {
        var options = options
        options.host = "127.0.0.1"
        options.port = 0
        options.threads = 2
        server = try NextGPTServer(options: options)
        let ready = DispatchSemaphore(value: 0)
        let box = PortBox()
        task = Task { [server] in
            try await server.run(handlesSignals: false) { _, port in
                box.set(port)
                ready.signal()
            }
        }
        guard ready.wait(timeout: .now() + 30) == .success else { throw TestHTTPError("the server did not start") }
        port = box.get()
    }

    convenience init(model: String, configure: (inout ServerOptions) -> Void = { _ in }) throws {
        var options = ServerOptions(modelPath: model)
        configure(&options)
        try self.init(options)
    }

    func stop() {
        task?.cancel()
        task = nil
        try? FileManager.default.removeItem(atPath: server.mediaDirectory)
    }

    deinit { stop() }

    var client: TestHTTPClient { TestHTTPClient(port: port) }
}

private final class PortBox: @unchecked Sendable {  // guarded by the lock
    private let lock = NSLock()
    private var port = 0
    func set(_ value: Int) { lock.lock(); port = value; lock.unlock() }
    func get() -> Int { lock.lock(); defer { lock.unlock() }; return port }
}

struct TestHTTPError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
