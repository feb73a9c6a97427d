import Foundation
import NextGPTConvert
import NextGPTFormats
import NextGPTServer
import NextGPTTestSupport
import Synchronization
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
final class RunningServer: Sendable {
    let server: NextGPTServer
    private let task: Mutex<Task<Void, any Error>?>
    let port: Int

    init(_ options: ServerOptions) throws {
        var options = options
        options.host = "127.0.0.1"
        options.port = 0
        options.threads = 2
        server = try NextGPTServer(options: options)
        let ready = DispatchSemaphore(value: 0)
        let box = PortBox()
        let task = Task { [server] in
            try await server.run(handlesSignals: false) { _, port in
                box.set(port)
                ready.signal()
            }
        }
        guard ready.wait(timeout: .now() + 30) == .success else {
            task.cancel()
            throw TestHTTPError("the server did not start")
        }
        self.task = Mutex(task)
        port = box.get()
    }

    convenience init(model: String, configure: (inout ServerOptions) -> Void = { _ in }) throws {
        var options = ServerOptions(modelPath: model)
        configure(&options)
        try self.init(options)
    }

    func stop() {
        task.withLock { task in
            task?.cancel()
            task = nil
        }
        try? FileManager.default.removeItem(atPath: server.mediaDirectory)
    }

    deinit { stop() }

    var client: TestHTTPClient { TestHTTPClient(port: port) }
}

private final class PortBox: Sendable {
    private let port = Mutex(0)
    func set(_ value: Int) { port.withLock { $0 = value } }
    func get() -> Int { port.withLock { $0 } }
}

struct TestHTTPError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
