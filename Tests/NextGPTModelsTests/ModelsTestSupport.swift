import Foundation
import NextGPTConvert
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTLlama
import NextGPTTestSupport
import NextGPTVerify
import XCTest

enum ModelsTestSupport {
    /// Makes the container a bundle was made against, from the `nextgpt convert` arguments it
    /// records (`nextgpt.reference.convert`), with the same library calls the CLI makes.
    static func container(for bundle: ReferenceBundle, in folder: String) throws -> String {
        guard let text = bundle.metadata["nextgpt.reference.convert"],
              let args = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String] else {
            throw FormatError(bundle.path, "no nextgpt.reference.convert recipe")
        }
        return try container(recipe: args, named: (bundle.path as NSString).lastPathComponent, origin: bundle.path, in: folder)
    }

    /// The container `nextgpt convert <recipe>` makes (paths relative to the repository), kept in
    /// `folder` under `name`.gguf between tests.
    static func container(recipe args: [String], named name: String, origin: String, in folder: String) throws -> String {
        var options: [String: String] = [:]
        var i = 0
        while i + 1 < args.count { options[args[i]] = args[i + 1]; i += 2 }
        let path = "\(folder)/\(name).gguf"
        if FileManager.default.fileExists(atPath: path) { return path }
        guard let typeName = options["--type"], let type = GGMLType(name: typeName) else { throw FormatError(origin, "recipe without --type") }
        let delta = try options["--delta"].map { try NextGPTDelta(path: "\(TestSupport.root)/\($0)", loraAlpha: options["--delta-lora-alpha"].flatMap(Float.init)) }
        var plan = ConversionPlan()
        let pipelines = ["--sd15": "sd15", "--audioldm": "audioldm", "--zeroscope": "zeroscope"]
        guard options["--vicuna"] != nil || options["--imagebind"] != nil || pipelines.keys.contains(where: { options[$0] != nil }) else {
            throw FormatError(origin, "recipe names no --vicuna, --imagebind, --sd15, --audioldm or --zeroscope")
        }
        // Relative paths as the generator gave them, so provenance matches.
        let cwd = FileManager.default.currentDirectoryPath
        FileManager.default.changeCurrentDirectoryPath(TestSupport.root)
        defer { FileManager.default.changeCurrentDirectoryPath(cwd) }
        if let vicuna = options["--vicuna"] {
            plan.components += try LlamaComponent.load(folder: vicuna, delta: delta, mergeDeltaLora: false)
        }
        if let imagebind = options["--imagebind"] {
            plan.components.append(try ImageBindComponent.load(path: imagebind))
        }
        for (flag, pipeline) in pipelines.sorted(by: { $0.key < $1.key }) {
            if let source = options[flag] { try PipelineSource.load(source, pipeline: pipeline, into: &plan) }
        }
        let rules = try options["--tensor-type"].map { [try QuantizationPolicy.Rule($0)] } ?? []
        var conversion = ConversionOptions(policy: QuantizationPolicy(type: type, rules: rules))
        conversion.hashSources = false
        _ = try Converter.convert(plan, options: conversion, to: path)
        return path
    }

    /// Runs the bundle twice, with every repacked Q8_0 product and convolution on the lane GEMM
    /// (`laneGEMMMinimumPositions` 1) and with none on it (`Int.max`: the tiled integer GEMM and
    /// patch rows), Winograd off in both; both must pass the bundle's bounds and stay within 0.5 dB PSNR of each other.
    /// Prints both PSNRs per output.
    static func verifyOnLaneGEMM(bundle name: String, in folder: String, minimumProbes: Int,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/\(name).safetensors")
        let container = try container(for: bundle, in: folder)
        var lanes = ExecutionContext(), patchRows = lanes
        lanes.laneGEMMMinimumPositions = 1
        patchRows.laneGEMMMinimumPositions = .max
        // Integer paths only: Winograd's f32 activations came within 0.5–2.7 dB of diffusers closer
        // than either integer path on the Zen 4, and the unrepacked probes would take it on one side only.
        lanes.winogradEnabled = false
        patchRows.winogradEnabled = false
        let on = try Verifier.run(model: try ModelFile(path: container), bundle: bundle, context: lanes)
        let off = try Verifier.run(model: try ModelFile(path: container), bundle: bundle, context: patchRows)
        XCTAssertGreaterThanOrEqual(on.results.count, minimumProbes, "probes in \(name)", file: file, line: line)
        XCTAssertEqual(on.results.count, off.results.count, file: file, line: line)
        for (a, b) in zip(on.results, off.results) {
            XCTAssertNil(a.error, "\(name): \(a.probe.name): \(a.error ?? "")", file: file, line: line)
            XCTAssertEqual(a.outputs.count, b.outputs.count, file: file, line: line)
            for (x, y) in zip(a.outputs, b.outputs) {
                print("\(name) \(a.probe.name).\(x.output): PSNR lane GEMM \(x.psnr), without \(y.psnr); rel L2 \(x.relL2) / \(y.relL2)")
                XCTAssertTrue(x.passed, "\(name): \(a.probe.name).\(x.output) on the lane GEMM: rel L2 \(x.relL2), PSNR \(x.psnr)",
                              file: file, line: line)
                XCTAssertGreaterThanOrEqual(x.psnr, y.psnr - 0.5, "\(name): \(a.probe.name).\(x.output)", file: file, line: line)
            }
        }
    }

    /// Runs every probe of `bundles/<name>.safetensors` on the container its recipe makes (kept
    /// in `folder` between tests) in `context` and requires each to pass; returns the report for extra checks.
    @discardableResult
    static func verify(bundle name: String, in folder: String, minimumProbes: Int = 1, context: ExecutionContext = .default,
                       file: StaticString = #filePath, line: UInt = #line) throws -> VerifyReport {
        let bundle = try ReferenceBundle(path: "\(TestSupport.bundles)/\(name).safetensors")
        let container = try container(for: bundle, in: folder)
        let report = try Verifier.run(model: try ModelFile(path: container), bundle: bundle, context: context)
        XCTAssertGreaterThanOrEqual(report.results.count, minimumProbes, "probes in \(name)", file: file, line: line)
        for result in report.results {
            XCTAssertNil(result.error, "\(name): \(result.probe.name): \(result.error ?? "")", file: file, line: line)
            for output in result.outputs {
                XCTAssertTrue(output.passed, "\(name): \(result.probe.name).\(output.output): rel L2 \(output.relL2), cosine \(output.cosine), PSNR \(output.psnr)",
                              file: file, line: line)
            }
        }
        return report
    }
}

