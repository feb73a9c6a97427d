// Reference bundles (formats/reference-bundle.md): every committed bundle under
// Tests/Fixtures/references/bundles (written by tools/references/make_op_bundle.py) runs through
// the same code path as `nextgpt verify` and must pass; failures, dumps and malformed bundles.
import Foundation
import NextGPTCore
import NextGPTFormats
import NextGPTKernels
import NextGPTLayers
import NextGPTTestSupport
import NextGPTVerify
import XCTest

private let bundleDirectory = TestSupport.bundles
private let opsContainer = bundleDirectory + "/ops.gguf"
private let opsBundle = bundleDirectory + "/ops.safetensors"

final class VerifyTests: XCTestCase {
    var scratch = ""

    override func setUpWithError() throws {
        scratch = TestSupport.temporaryDirectory("verify")
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// The container a committed bundle was made against: `nextgpt.reference.container` beside it.
    func container(for bundle: String) throws -> String {
        let metadata = try SafetensorsFile.read(path: bundle).metadata
        let name = try XCTUnwrap(metadata["nextgpt.reference.container"], "\(bundle) names no container")
        return (bundle as NSString).deletingLastPathComponent + "/" + name
    }

    func testEveryCommittedBundlePasses() throws {
        let bundles = try FileManager.default.contentsOfDirectory(atPath: bundleDirectory)
            .filter { $0.hasSuffix(".safetensors") }.sorted().map { bundleDirectory + "/" + $0 }
        XCTAssertFalse(bundles.isEmpty)
        var calls = Set<String>()
        for bundle in bundles {
            let containerPath = try container(for: bundle)
            XCTAssertEqual(try Container(path: containerPath).verifyChecksums().map(\.description), [], containerPath)
            let report = try Verifier.run(containerPath: containerPath, referencePath: bundle, context: .default)
            XCTAssertTrue(report.passed, report.lines.joined(separator: "\n"))
            XCTAssertEqual(report.results.count, try ReferenceBundle(path: bundle).probes.count)
            for r in report.results {
                XCTAssertNil(r.error, r.probe.name)
                XCTAssertFalse(r.outputs.isEmpty, r.probe.name)
                for o in r.outputs {
                    XCTAssertLessThanOrEqual(o.relL2, r.probe.tolerance.relL2, "\(r.probe.name) \(o.output)")
                    XCTAssertGreaterThan(o.cosine, 0.999, "\(r.probe.name) \(o.output)")
                }
            }
            calls.formUnion(report.results.map(\.probe.call))
        }
        // The issue's op-level calls are all exercised by the committed bundles.
        for call in ["linear", "conv2d", "conv3d", "group_norm", "layer_norm", "rms_norm", "attention", "softmax", "gelu", "silu"] {
            XCTAssertTrue(calls.contains(call), "no committed probe uses \(call)")
        }
    }

    func testCommittedContainerIsValid() throws {
        let container = try Container(path: opsContainer)
        XCTAssertEqual(container.components, ["ops"])
        XCTAssertEqual(container.file.alignment, 64)
        XCTAssertEqual(try container.verifyChecksums().map(\.description), [])
        let types = Set(container.file.tensors.map(\.type))
        XCTAssertTrue(types.isSuperset(of: [.f32, .f16, .q8_0, .q4_0]), "\(types)")
        // Folded and quantized convolution kernels come back in their PyTorch shapes.
        let model = try ModelFile(path: opsContainer)
        XCTAssertEqual(try model.weight("ops.conv3d_f32.weight").shape, [4, 3, 3, 3, 3])
        XCTAssertEqual(try model.weight("ops.conv3d_q4_0.weight").shape, [5, 4, 2, 2, 2])
        XCTAssertEqual(try model.weight("ops.conv2d_q8_0.weight").shape, [6, 32, 3, 3])
    }

    func testTamperedExpectFails() throws {
        let tampered = scratch + "/tampered.safetensors"
        try rewrite(opsBundle, to: tampered) { name, values in
            name == "conv2d_q8_0.y" ? values.enumerated().map { $0.offset == 7 ? $0.element + 5 : $0.element } : values
        }
        let report = try Verifier.run(containerPath: opsContainer, referencePath: tampered, context: .default)
        XCTAssertFalse(report.passed)
        XCTAssertEqual(report.failures.map(\.probe.name), ["conv2d_q8_0"])
        let failed = try XCTUnwrap(report.failures.first?.outputs.first)
        XCTAssertEqual(failed.maxAbs, 5, accuracy: 1e-4)
        XCTAssertFalse(failed.passed)
        XCTAssertTrue(report.lines.contains { $0.hasPrefix("conv2d_q8_0") && $0.hasSuffix("FAIL") }, report.lines.joined(separator: "\n"))
        XCTAssertTrue(report.lines.last!.contains("\(report.results.count - 1)/\(report.results.count) probes passed"), report.lines.last!)
        let json = try JSONSerialization.jsonObject(with: Data(try report.jsonString().utf8)) as! [String: Any]
        XCTAssertEqual(json["passed"] as? Bool, false)
        XCTAssertEqual(json["failed_count"] as? Int, 1)
    }

    func testToleranceBoundsAreAllApplied() {
        let reference = Tensor(shape: [4], values: [1, 2, 3, 4])
        let ours = Tensor(shape: [4], values: [1, 2, 3, 4.01])
        let loose = OutputComparison.compare(output: "y", tensor: "t", ours: ours, reference: reference, tolerance: Tolerance(relL2: 1e-2))
        XCTAssertTrue(loose.passed)
        XCTAssertEqual(loose.relL2, 0.01 / 30.0.squareRoot(), accuracy: 1e-7)
        XCTAssertFalse(OutputComparison.compare(output: "y", tensor: "t", ours: ours, reference: reference,
                                                tolerance: Tolerance(relL2: 1e-2, maxAbs: 1e-3)).passed)
        XCTAssertFalse(OutputComparison.compare(output: "y", tensor: "t", ours: ours, reference: reference,
                                                tolerance: Tolerance(relL2: 1e-2, minCosine: 1)).passed)
        let nan = Tensor(shape: [4], values: [1, 2, .nan, 4])
        let withNaN = OutputComparison.compare(output: "y", tensor: "t", ours: nan, reference: reference, tolerance: Tolerance(relL2: 1))
        XCTAssertFalse(withNaN.passed)
        XCTAssertTrue(withNaN.psnr.isNaN, "PSNR of an output with NaN: \(withNaN.psnr)")
        let zero = Tensor(zeros: [4])
        let both = OutputComparison.compare(output: "y", tensor: "t", ours: zero, reference: zero, tolerance: Tolerance(relL2: 0))
        XCTAssertTrue(both.passed)
        XCTAssertEqual(both.cosine, 1)
    }

    func testDumpRoundTrip() throws {
        let dump = scratch + "/ours.safetensors"
        let report = try Verifier.run(containerPath: opsContainer, referencePath: opsBundle, dumpPath: dump, context: .default)
        XCTAssertTrue(report.passed)
        let written = try SafetensorsFile.read(path: dump)
        let bundle = try ReferenceBundle(path: opsBundle)
        let expectNames = bundle.probes.flatMap { $0.expect.values }
        XCTAssertEqual(Set(written.names), Set(expectNames))
        // The dumped values are exactly the ones the report measured.
        for result in report.results {
            for output in result.outputs {
                let ours = try XCTUnwrap(written[output.tensor])
                let reference = try bundle.tensor(output.tensor)
                XCTAssertEqual(ours.dtype, .f32)
                XCTAssertEqual(ours.shape, reference.shape, output.tensor)
                let again = OutputComparison.compare(output: output.output, tensor: output.tensor,
                                                     ours: Tensor(shape: ours.shape, values: try ours.readFloats()),
                                                     reference: reference, tolerance: result.probe.tolerance)
                XCTAssertEqual(again.maxAbs, output.maxAbs, output.tensor)
                XCTAssertEqual(again.relL2, output.relL2, output.tensor)
                XCTAssertTrue(again.passed, output.tensor)
            }
        }
        // The dump carries the report.
        let meta = try XCTUnwrap(written.metadata["nextgpt.verify"])
        let json = try JSONSerialization.jsonObject(with: Data(meta.utf8)) as! [String: Any]
        XCTAssertEqual(json["passed"] as? Bool, true)
        XCTAssertEqual((json["probes"] as? [Any])?.count, bundle.probes.count)

        // And the reference implementation reads it (when the tools' Python is present).
        guard let python = pythonWithSafetensors() else { throw XCTSkip("no Python with safetensors; the Swift read-back ran") }
        let script = """
        import json, sys
        from safetensors.numpy import load_file
        from safetensors import safe_open
        t = load_file(sys.argv[1])
        with safe_open(sys.argv[1], "np") as f: meta = f.metadata()
        print(json.dumps({"names": sorted(t), "shapes": {k: list(v.shape) for k, v in t.items()},
                          "dtypes": sorted({str(v.dtype) for v in t.values()}), "passed": json.loads(meta["nextgpt.verify"])["passed"]}))
        """
        let output = try run(python, ["-c", script, dump])
        let parsed = try JSONSerialization.jsonObject(with: Data(output.utf8)) as! [String: Any]
        XCTAssertEqual(parsed["names"] as? [String], expectNames.sorted())
        XCTAssertEqual(parsed["dtypes"] as? [String], ["float32"])
        XCTAssertEqual(parsed["passed"] as? Bool, true)
        let shapes = try XCTUnwrap(parsed["shapes"] as? [String: [Int]])
        for name in expectNames { XCTAssertEqual(shapes[name], try bundle.tensor(name).shape, name) }
    }

    func testSafetensorsWriterRoundTrip() throws {
        var writer = SafetensorsWriter()
        try writer.add(name: "a", shape: [2, 3], floats: [1, -2, 3.5, 0, .infinity, -0.25])
        try writer.add(name: "half", dtype: .f16, shape: [2], bytes: [0x00, 0x3C, 0x00, 0xC0])  // 1, -2
        try writer.add(name: "ids", dtype: .i64, shape: [1], bytes: [7, 0, 0, 0, 0, 0, 0, 0])
        try writer.add(name: "empty", shape: [0, 4], floats: [])
        try writer.add(name: "scalar", shape: [], floats: [42])
        XCTAssertThrowsError(try writer.add(name: "a", shape: [1], floats: [0]))
        XCTAssertThrowsError(try writer.add(name: "b", shape: [3], floats: [0]))
        let path = scratch + "/w.safetensors"
        try writer.write(to: path, metadata: ["k": "v \"quoted\" ü", "nextgpt.x": "{}"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = bytes.prefix(8).withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        XCTAssertEqual(headerLength % 8, 0)
        let read = try SafetensorsFile.read(path: path)
        XCTAssertEqual(read.names, ["a", "half", "ids", "empty", "scalar"])
        XCTAssertEqual(read.metadata, ["k": "v \"quoted\" ü", "nextgpt.x": "{}"])
        XCTAssertEqual(try read["a"]!.readFloats(), [1, -2, 3.5, 0, .infinity, -0.25])
        XCTAssertEqual(try read["half"]!.readFloats(), [1, -2])
        XCTAssertEqual(read["ids"]!.dtype, .i64)
        XCTAssertEqual(try read["ids"]!.readFloats(), [7])
        XCTAssertEqual(read["empty"]!.shape, [0, 4])
        XCTAssertEqual(read["scalar"]!.shape, [])
        XCTAssertEqual(try read["scalar"]!.readFloats(), [42])
        XCTAssertFalse(FileManager.default.fileExists(atPath: scratch + "/.w.safetensors.tmp-\(getpid())"))

        guard let python = pythonWithSafetensors() else { throw XCTSkip("no Python with safetensors") }
        let output = try run(python, ["-c", """
            import sys
            from safetensors.numpy import load_file
            from safetensors import safe_open
            t = load_file(sys.argv[1])
            with safe_open(sys.argv[1], "np") as f: m = f.metadata()
            print(t["a"].tolist(), t["half"].tolist(), t["ids"].tolist(), t["empty"].shape, t["scalar"].tolist(), m["k"])
            """, path])
        XCTAssertEqual(output.trimmingCharacters(in: .whitespacesAndNewlines),
                       "[[1.0, -2.0, 3.5], [0.0, inf, -0.25]] [1.0, -2.0] [7] (0, 4) 42.0 v \"quoted\" ü")
    }

    // MARK: malformed bundles and failing probes

    func testMalformedMetadataNamesTheFile() throws {
        let cases: [(String?, String)] = [
            (nil, "no 'nextgpt.reference' key"),
            ("{not json", "is not valid JSON"),
            (#"[1, 2]"#, "must be a JSON object"),
            (#"{"version": 2, "probes": []}"#, "version 2"),
            (#"{"version": 1}"#, "missing 'probes' array"),
            (#"{"version": 1, "probes": []}"#, "no probes"),
            (#"{"version": 1, "probes": [{"name": "p", "component": "ops", "call": "silu", "inputs": {"x": "x"}, "expect": {"y": "y"}}]}"#,
             "probe 'p': missing 'tolerance'"),
            (#"{"version": 1, "probes": [{"name": "p", "call": "silu", "inputs": {"x": "x"}, "expect": {"y": "y"}, "tolerance": {"rel_l2": 1}}]}"#,
             "probe 'p': missing string 'component'"),
            (#"{"version": 1, "probes": [{"name": "p", "component": "ops", "call": "silu", "inputs": {"x": "nope"}, "expect": {"y": "y"}, "tolerance": {"rel_l2": 1}}]}"#,
             "tensor 'nope': named by probe 'p' inputs.x but not in the bundle"),
            (#"{"version": 1, "probes": [{"name": "p", "component": "ops", "call": "silu", "inputs": {"x": "x"}, "expect": {"y": 3}, "tolerance": {"rel_l2": 1}}]}"#,
             "expect.y must be a tensor name"),
        ]
        for (i, (metadata, message)) in cases.enumerated() {
            let path = scratch + "/bad\(i).safetensors"
            try writeBundle(path, metadata: metadata)
            XCTAssertThrowsError(try Verifier.run(containerPath: opsContainer, referencePath: path, context: .default), message) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix(path), "\(text) does not start with the file name")
                XCTAssertTrue(text.contains(message), "\(text) does not say \(message)")
            }
        }
    }

    func testProbesCheckedAgainstCallsBeforeRunning() throws {
        let cases: [(String, String)] = [
            (#""call": "frobnicate", "inputs": {"x": "x"}, "expect": {"y": "y"}"#, "probe 'p': unknown call 'frobnicate' (known: linear, conv1d"),
            (#""call": "linear", "inputs": {}, "expect": {"y": "y"}"#, "probe 'p': call 'linear' needs input 'x'"),
            (#""call": "silu", "inputs": {"x": "x", "z": "x"}, "expect": {"y": "y"}"#, "call 'silu' takes no input 'z'"),
            (#""call": "silu", "inputs": {"x": "x"}, "expect": {"out": "y"}"#, "call 'silu' has no output 'out'"),
            (#""component": "vicuna", "call": "silu", "inputs": {"x": "x"}, "expect": {"y": "y"}"#, "component 'vicuna' is not in"),
        ]
        for (i, (fields, message)) in cases.enumerated() {
            let component = fields.contains("\"component\"") ? "" : #""component": "ops", "#
            let probe = #"{"name": "p", "# + component + fields + #", "tolerance": {"rel_l2": 1e-5}}"#
            let path = scratch + "/call\(i).safetensors"
            try writeBundle(path, metadata: #"{"version": 1, "probes": ["# + probe + "]}")
            XCTAssertThrowsError(try Verifier.run(containerPath: opsContainer, referencePath: path, context: .default)) { error in
                XCTAssertTrue("\(error)".hasPrefix(path) && "\(error)".contains(message), "\(error)")
            }
        }
    }

    func testProbeErrorsFailOnlyThatProbe() throws {
        let probes = [
            #"{"name": "ok", "component": "ops", "call": "silu", "inputs": {"x": "x"}, "expect": {"y": "y"}, "tolerance": {"rel_l2": 1e-5}}"#,
            #"{"name": "missing_weight", "component": "ops", "call": "linear", "args": {"weight": "ops.nope.weight"}, "inputs": {"x": "x"}, "expect": {"y": "y"}, "tolerance": {"rel_l2": 1e-5}}"#,
            #"{"name": "wrong_shape", "component": "ops", "call": "linear", "args": {"weight": "ops.linear_f32.weight"}, "inputs": {"x": "x"}, "expect": {"y": "y"}, "tolerance": {"rel_l2": 1e-5}}"#,
            #"{"name": "bad_arg", "component": "ops", "call": "softmax", "args": {"dim": "last"}, "inputs": {"x": "x"}, "expect": {"y": "y"}, "tolerance": {"rel_l2": 1e-5}}"#,
            #"{"name": "shape_differs", "component": "ops", "call": "softmax", "inputs": {"x": "x"}, "expect": {"y": "other"}, "tolerance": {"rel_l2": 1e-5}}"#,
        ]
        let path = scratch + "/errors.safetensors"
        try writeBundle(path, metadata: #"{"version": 1, "probes": ["# + probes.joined(separator: ", ") + "]}")
        let report = try Verifier.run(containerPath: opsContainer, referencePath: path, context: .default)
        XCTAssertFalse(report.passed)
        XCTAssertEqual(report.results.map(\.passed), [true, false, false, false, false])
        let errors = report.results.map { $0.error ?? "" }
        XCTAssertTrue(errors[1].contains("ops.nope.weight") && errors[1].contains("not in the container"), errors[1])
        XCTAssertTrue(errors[2].contains("does not end in 37"), errors[2])
        XCTAssertTrue(errors[3].contains("'dim' must be an integer"), errors[3])
        XCTAssertTrue(errors[4].contains("shape [2, 3]") && errors[4].contains("[3, 2]"), errors[4])
    }

    /// The `nextgpt` executable itself, when it was built beside the test bundle (`swift build --build-tests`).
    func testCommandLine() throws {
        let directory = URL(fileURLWithPath: CommandLine.arguments.first { $0.contains(".xctest") } ?? CommandLine.arguments[0])
            .deletingLastPathComponent()
        var candidates = [directory.appendingPathComponent("nextgpt").path]
        // On Linux the runner is …/debug/NextGPTPackageTests.xctest; on macOS the bundle sits in the same folder.
        candidates.append(directory.deletingLastPathComponent().appendingPathComponent("nextgpt").path)
        guard let nextgpt = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("nextgpt not built beside the tests (looked at \(candidates))")
        }
        func status(_ arguments: [String]) throws -> (Int32, String, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: nextgpt)
            process.arguments = arguments
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
        var (code, out, _) = try status(["verify", "-m", opsContainer, "--reference", opsBundle])
        XCTAssertEqual(code, 0, out)
        XCTAssertTrue(out.contains("probes passed") && out.contains("linear_q4_0"), out)

        let tampered = scratch + "/tampered.safetensors"
        try rewrite(opsBundle, to: tampered) { name, values in name == "silu.y" ? values.map { $0 * 1.01 } : values }
        (code, out, _) = try status(["verify", "--model", opsContainer, "--reference", tampered, "--json"])
        XCTAssertEqual(code, 1)
        let json = try JSONSerialization.jsonObject(with: Data(out.utf8)) as! [String: Any]
        let failed = (json["probes"] as! [[String: Any]]).filter { !($0["passed"] as! Bool) }.map { $0["name"] as! String }
        XCTAssertEqual(failed, ["silu"])

        let dump = scratch + "/dump.safetensors"
        (code, out, _) = try status(["verify", "-m", opsContainer, "--reference", opsBundle, "--dump", dump])
        XCTAssertEqual(code, 0)
        XCTAssertEqual(Set(try SafetensorsFile.read(path: dump).names), Set(try ReferenceBundle(path: opsBundle).probes.flatMap { $0.expect.values }))

        let bad = scratch + "/bad.safetensors"
        try writeBundle(bad, metadata: "{oops")
        var err = ""
        (code, _, err) = try status(["verify", "-m", opsContainer, "--reference", bad])
        XCTAssertEqual(code, 1)
        XCTAssertTrue(err.contains(bad) && err.contains("not valid JSON"), err)
    }

    // MARK: helpers

    /// A small bundle: x [2, 3], y = silu(x), other [3, 2], with `metadata` as nextgpt.reference.
    func writeBundle(_ path: String, metadata: String?) throws {
        var writer = SafetensorsWriter()
        let x: [Float] = [-1, 0, 1, 2, -3, 0.5]
        try writer.add(name: "x", shape: [2, 3], floats: x)
        try writer.add(name: "y", shape: [2, 3], floats: x.map { $0 / (1 + exp(-$0)) })
        try writer.add(name: "other", shape: [3, 2], floats: x)
        try writer.write(to: path, metadata: metadata.map { ["nextgpt.reference": $0] } ?? ["other": "1"])
    }

    /// Copies a bundle, passing every tensor's values through `change`.
    func rewrite(_ source: String, to destination: String, change: (String, [Float]) -> [Float]) throws {
        let checkpoint = try SafetensorsFile.read(path: source)
        var writer = SafetensorsWriter()
        for t in checkpoint.tensors { try writer.add(name: t.name, shape: t.shape, floats: change(t.name, try t.readFloats())) }
        try writer.write(to: destination, metadata: checkpoint.metadata)
    }

    func pythonWithSafetensors() -> String? {
        let candidates = [ProcessInfo.processInfo.environment["NEXTGPT_PYTHON"],
                          "\(TestSupport.root)/tools/.venv/bin/python",
                          "/work/venv/bin/python"].compactMap { $0 }
        for python in candidates where FileManager.default.isExecutableFile(atPath: python) {
            if (try? run(python, ["-c", "import safetensors, numpy"])) != nil { return python }
        }
        return nil
    }

    @discardableResult
    func run(_ executable: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ProbeError("\(executable) exited with \(process.terminationStatus)") }
        return String(decoding: data, as: UTF8.self)
    }
}
