import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers

/// How one output of a probe compares with its reference.
public struct OutputComparison: Sendable {
    public var output: String
    /// Bundle tensor name of the reference (and of ours in a dump).
    public var tensor: String
    public var shape: [Int]
    public var maxAbs: Double
    /// ‖ours − ref‖ / ‖ref‖ (0 when both are zero, infinity when only the reference is).
    public var relL2: Double
    /// ⟨ours, ref⟩ / (‖ours‖‖ref‖) (1 when both are zero, 0 when one is).
    public var cosine: Double
    /// 10·log10(1 / mean squared error): image PSNR for values in [0, 1] (∞ when equal).
    public var psnr: Double
    public var passed: Bool

    /// Compares two equally shaped value arrays (in f64) against `tolerance`.
    public static func compare(output: String, tensor: String, ours: Tensor, reference: Tensor, tolerance: Tolerance) -> OutputComparison {
        var maxAbs = 0.0, diff2 = 0.0, ref2 = 0.0, ours2 = 0.0, dot = 0.0
        var nonFinite = false
        ours.withUnsafeBufferPointer { a in
            reference.withUnsafeBufferPointer { r in
                for i in 0..<min(a.count, r.count) {
                    let x = Double(a[i]), y = Double(r[i])
                    if !x.isFinite { nonFinite = true }
                    let d = abs(x - y)
                    if d > maxAbs || d.isNaN { maxAbs = d.isNaN ? .nan : d }
                    diff2 += d * d; ref2 += y * y; ours2 += x * x; dot += x * y
                }
            }
        }
        let rel = ref2 > 0 ? (diff2 / ref2).squareRoot() : (diff2 == 0 ? 0 : .infinity)
        let cosine = (ref2 > 0 && ours2 > 0) ? dot / (ref2 * ours2).squareRoot() : (ref2 == 0 && ours2 == 0 ? 1 : 0)
        var passed = !nonFinite && !maxAbs.isNaN && rel <= tolerance.relL2
        if let m = tolerance.maxAbs { passed = passed && maxAbs <= m }
        if let c = tolerance.minCosine { passed = passed && cosine >= c }
        // NaN outputs make diff2 NaN: their PSNR is NaN, not the infinity of an exact match.
        let psnr = diff2.isNaN ? .nan : diff2 > 0 ? 10 * log10(Double(max(reference.count, 1)) / diff2) : .infinity
        if let d = tolerance.minPSNR { passed = passed && psnr >= d }
        return OutputComparison(output: output, tensor: tensor, shape: reference.shape, maxAbs: maxAbs, relL2: rel,
                                cosine: cosine, psnr: psnr, passed: passed)
    }

    var json: [String: Any] {
        ["output": output, "tensor": tensor, "shape": shape, "max_abs": jsonNumber(maxAbs), "rel_l2": jsonNumber(relL2),
         "cosine": jsonNumber(cosine), "psnr": jsonNumber(psnr), "passed": passed]
    }
}

/// The outcome of one probe: every output compared, or the error that stopped it.
public struct ProbeResult: Sendable {
    public var probe: Probe
    public var outputs: [OutputComparison]
    public var error: String?
    public var seconds: Double

    public var passed: Bool { error == nil && !outputs.isEmpty && outputs.allSatisfy(\.passed) }

    var json: [String: Any] {
        var o: [String: Any] = ["name": probe.name, "component": probe.component, "call": probe.call, "passed": passed,
                                "seconds": seconds, "tolerance": probe.tolerance.json, "outputs": outputs.map(\.json)]
        if let error { o["error"] = error }
        return o
    }
}

public struct VerifyReport: Sendable {
    public var container: String
    public var reference: String
    public var results: [ProbeResult]

    public var passed: Bool { results.allSatisfy(\.passed) }
    public var failures: [ProbeResult] { results.filter { !$0.passed } }

    public var jsonObject: [String: Any] {
        ["container": container, "reference": reference, "passed": passed, "probe_count": results.count,
         "failed_count": failures.count, "probes": results.map(\.json)]
    }

    public func jsonString() throws -> String {
        let data = try JSONSerialization.data(withJSONObject: jsonObject, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }

    /// One line per probe output, then a summary line.
    public var lines: [String] {
        var out: [String] = []
        let width = max(12, results.map { $0.probe.name.count }.max() ?? 0)
        out.append("probe".padding(toLength: width, withPad: " ", startingAt: 0) + "  call          output   max-abs     rel-L2      cosine      tol rel-L2  result")
        for r in results {
            let name = r.probe.name.padding(toLength: width, withPad: " ", startingAt: 0)
            let call = r.probe.call.padding(toLength: 12, withPad: " ", startingAt: 0)
            if let error = r.error {
                out.append("\(name)  \(call)  FAIL: \(error)")
                continue
            }
            for o in r.outputs {
                let fields = [String(format: "%-10.3e", o.maxAbs), String(format: "%-10.3e", o.relL2),
                              String(format: "%-10.8f", o.cosine), String(format: "%-10.3e", r.probe.tolerance.relL2)]
                let psnr = r.probe.tolerance.minPSNR.map { String(format: "  PSNR %.1f dB (≥ %.0f)", o.psnr, $0) } ?? ""
                out.append("\(name)  \(call)  \(o.output.padding(toLength: 7, withPad: " ", startingAt: 0))  " +
                           fields.joined(separator: "  ") + "  " + (o.passed ? "pass" : "FAIL") + psnr)
            }
        }
        out.append("\(reference): \(results.count - failures.count)/\(results.count) probes passed against \(container)")
        return out
    }
}

extension VerifyCalls {
    /// Op-level calls and model calls.
    public static var allCalls: [VerifyCall] { all + VerifyLlamaCalls.all + VerifyCLIPCalls.all + VerifyVAECalls.all + VerifyPipelineCalls.all + VerifyVideoPipelineCalls.all
        + VerifyImageBindCalls.all + VerifyAnyToAnyCalls.all + VerifyAudioLDMCalls.all }
    static let everything: [String: VerifyCall] = Dictionary(uniqueKeysWithValues: allCalls.map { ($0.name, $0) })
}

/// Runs a reference bundle's probes against a container.
public enum Verifier {
    /// Checks every probe names a known call with the inputs and outputs it declares, before
    /// anything runs; the error names the bundle file and the probe.
    public static func validate(_ bundle: ReferenceBundle, model: ModelFile? = nil) throws {
        for probe in bundle.probes {
            guard let call = VerifyCalls.everything[probe.call] else {
                throw FormatError(bundle.path, "probe '\(probe.name)': unknown call '\(probe.call)' (known: \(VerifyCalls.allCalls.map(\.name).joined(separator: ", ")))")
            }
            if !call.components.isEmpty, !call.components.contains(probe.component) {
                throw FormatError(bundle.path, "probe '\(probe.name)': call '\(call.name)' runs on component \(call.components.joined(separator: " or ")), not '\(probe.component)'")
            }
            for input in call.inputs where probe.inputs[input] == nil {
                throw FormatError(bundle.path, "probe '\(probe.name)': call '\(call.name)' needs input '\(input)'")
            }
            for input in probe.inputs.keys.sorted() where !call.inputs.contains(input) && !call.optionalInputs.contains(input) {
                throw FormatError(bundle.path, "probe '\(probe.name)': call '\(call.name)' takes no input '\(input)' (it takes \(call.inputs.joined(separator: ", ")))")
            }
            for output in probe.expect.keys.sorted() where !call.outputs.contains(output) {
                throw FormatError(bundle.path, "probe '\(probe.name)': call '\(call.name)' has no output '\(output)' (it has \(call.outputs.joined(separator: ", ")))")
            }
            if let model, !model.container.components.contains(probe.component) {
                throw FormatError(bundle.path, "probe '\(probe.name)': component '\(probe.component)' is not in \(model.container.file.path) (it has \(model.container.components.joined(separator: ", ")))")
            }
        }
    }

    /// Runs every probe in bundle order. A component's pages are released when the probes move
    /// on to another one. `outputs` receives each of our outputs with its expect tensor name.
    /// Every call runs in `context` (a probe's `activations` argument may change its matmul path).
    public static func run(model: ModelFile, bundle: ReferenceBundle, context: ExecutionContext,
                           outputs collect: ((String, Tensor) throws -> Void)? = nil) throws -> VerifyReport {
        try validate(bundle, model: model)
        var results: [ProbeResult] = []
        var current: String?
        for probe in bundle.probes {
            if let previous = current, previous != probe.component { model.release(component: previous) }
            current = probe.component
            let call = VerifyCalls.everything[probe.call]!
            let start = Date()
            var result = ProbeResult(probe: probe, outputs: [], error: nil, seconds: 0)
            do {
                let outputs = try call.run(ProbeContext(model: model, bundle: bundle, probe: probe, execution: context))
                for (output, tensorName) in probe.expect.sorted(by: { $0.key < $1.key }) {
                    guard let ours = outputs[output] else { throw ProbeError("call produced no output '\(output)'") }
                    let reference = try bundle.tensor(tensorName)
                    guard ours.shape == reference.shape else {
                        throw ProbeError("output '\(output)' has shape \(ours.shape), the reference '\(tensorName)' \(reference.shape)")
                    }
                    result.outputs.append(OutputComparison.compare(output: output, tensor: tensorName, ours: ours,
                                                                   reference: reference, tolerance: probe.tolerance))
                    try collect?(tensorName, ours)
                }
            } catch let error as ProbeError {
                result.error = error.description
            } catch let error as FormatError {
                result.error = error.description
            }
            result.seconds = Date().timeIntervalSince(start)
            results.append(result)
        }
        return VerifyReport(container: model.container.file.path, reference: bundle.path, results: results)
    }

    /// Opens both files, runs, and writes the dump (our outputs under the expect names, F32, with
    /// the report as `nextgpt.verify` metadata) when `dumpPath` is given. What `nextgpt verify` does.
    public static func run(containerPath: String, referencePath: String, dumpPath: String? = nil,
                           context: ExecutionContext) throws -> VerifyReport {
        let model = try ModelFile(path: containerPath)
        let bundle = try ReferenceBundle(path: referencePath)
        guard let dumpPath else { return try run(model: model, bundle: bundle, context: context) }
        var writer = SafetensorsWriter()
        let report = try run(model: model, bundle: bundle, context: context) { try writer.add(name: $0, shape: $1.shape, floats: $1.values) }
        let data = try JSONSerialization.data(withJSONObject: report.jsonObject, options: [.sortedKeys, .withoutEscapingSlashes])
        try writer.write(to: dumpPath, metadata: ["nextgpt.verify": String(decoding: data, as: UTF8.self)])
        return report
    }
}

/// JSON has no NaN or infinity: those become strings.
func jsonNumber(_ v: Double) -> Any { v.isFinite ? v : "\(v)" }
