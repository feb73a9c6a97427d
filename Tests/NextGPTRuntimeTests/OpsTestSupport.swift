import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTTestSupport
import Synchronization
import XCTest

/// The PyTorch reference cases of `tools/references/op_cases.py`.
// @unchecked: `arguments` holds JSONSerialization's immutable values (`Any` is not `Sendable`),
// never mutated after `init`; the tensor cache is behind a `Mutex`.
final class OpCases: @unchecked Sendable {
    static let shared: OpCases = {
        do { return try OpCases() } catch { fatalError("op-cases.safetensors: \(error)") }
    }()

    /// Causal attention through an f16 KV cache (tools/references/op_cases_f16kv.py).
    static let f16Cache: OpCases = {
        do { return try OpCases(path: "\(TestSupport.references)/op-cases-f16kv.safetensors") } catch {
            fatalError("op-cases-f16kv.safetensors: \(error)")
        }
    }()

    static var url: URL { URL(fileURLWithPath: "\(TestSupport.references)/op-cases.safetensors") }

    let checkpoint: Checkpoint
    let arguments: [String: [String: Any]]
    private let cache = Mutex<[String: Tensor]>([:])

    init(path: String = OpCases.url.path) throws {
        checkpoint = try SafetensorsFile.read(path: path)
        var arguments: [String: [String: Any]] = [:]
        for (name, json) in checkpoint.metadata {
            arguments[name] = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] ?? [:]
        }
        self.arguments = arguments
    }

    func tensor(_ name: String) -> Tensor {
        cache.withLock { cache in
            if let t = cache[name] { return t }
            guard let source = checkpoint[name] else { fatalError("no tensor \(name) in op-cases.safetensors") }
            let t = Tensor(shape: source.shape, values: try! source.readFloats())
            cache[name] = t
            return t
        }
    }

    func optional(_ name: String) -> Tensor? { checkpoint[name] == nil ? nil : tensor(name) }

    func args(_ name: String) -> [String: Any] {
        guard let a = arguments[name] else { fatalError("no case \(name) in op-cases.safetensors metadata") }
        return a
    }

    func float(_ name: String, _ key: String) -> Float { Float((args(name)[key] as! NSNumber).doubleValue) }
    func int(_ name: String, _ key: String) -> Int { (args(name)[key] as! NSNumber).intValue }
    func bool(_ name: String, _ key: String) -> Bool { (args(name)[key] as! NSNumber).boolValue }
    func ints(_ name: String, _ key: String) -> [Int] {
        if let list = args(name)[key] as? [NSNumber] { return list.map(\.intValue) }
        return [int(name, key)]
    }
}

func assertMatches(_ ours: Tensor, _ expect: Tensor, _ label: String, tolerance: Double = 1e-5,
                   file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(ours.shape, expect.shape, "\(label): shape", file: file, line: line)
    guard ours.shape == expect.shape else { return }
    let r = relativeL2(ours.values, expect.values)
    let entry = String(format: "OPCASE %-28@ rel L2 %.3e", label as NSString, r)
    print(entry)
    XCTAssertLessThanOrEqual(r, tolerance, "\(label): rel L2 \(r)", file: file, line: line)
}
