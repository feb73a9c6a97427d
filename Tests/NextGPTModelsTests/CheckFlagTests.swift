import Foundation
import NextGPTFormats
import NextGPTTestSupport
import XCTest

/// `--check` through the real `nextgpt` on a tiny container (the Vicuna and SD 1.5 fixtures,
/// converted by the CLI): a bit flipped inside a tensor the command reads is refused naming that
/// tensor, before anything runs or is written; a flip in a component the command does not read is
/// not its business; an undamaged container passes.
final class CheckFlagTests: XCTestCase {
    static let folder = TestSupport.temporaryDirectory("check-flag")
    static let lock = NSLock()

    private func binary() throws -> String {
        let path = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("nextgpt").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("build the nextgpt product first (swift build --build-tests builds it): \(path)")
        }
        return path
    }

    private func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
        process.arguments = arguments
        let out = "\(Self.folder)/stdout-\(UUID().uuidString)", err = "\(Self.folder)/stderr-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: err) }
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        let read = { (path: String) in String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        return (process.terminationStatus, read(out), read(err))
    }

    /// Vicuna and SD 1.5 in one f32 container, converted once per test run.
    private func container() throws -> String {
        Self.lock.lock()
        defer { Self.lock.unlock() }
        let path = "\(Self.folder)/tiny.gguf"
        if FileManager.default.fileExists(atPath: path) { return path }
        let result = try run(["convert", "--vicuna", "\(TestSupport.fixtures)/vicuna", "--sd15", "\(TestSupport.fixtures)/sd15",
                              "--no-negatives", "--no-source-hash", "-o", path])
        XCTAssertEqual(result.status, 0, result.stderr)
        return path
    }

    /// A copy of `container` with one bit flipped in the middle of the component's second tensor; returns (copy, tensor name).
    private func damaged(_ container: String, component: String, label: String) throws -> (path: String, tensor: String) {
        let tensors = try Container(path: container).tensors(of: component)
        let tensor = try XCTUnwrap(tensors.count > 1 ? tensors[1] : tensors.first, "no tensors in \(component)")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: container))
        bytes[tensor.fileOffset + tensor.byteCount / 2] ^= 0x10
        let path = "\(Self.folder)/damaged-\(label).gguf"
        try bytes.write(to: URL(fileURLWithPath: path))
        return (path, tensor.name)
    }

    private let generate = ["-p", "Hello", "-n", "2", "--temp", "0"]
    private let draw = ["-p", "a cat", "--steps", "1", "-W", "64", "-H", "64"]

    func testAnUndamagedContainerPasses() throws {
        let model = try container()
        let text = try run(["generate", "-m", model, "--check"] + generate)
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stderr.contains("--check: header and vicuna: checksums match"), text.stderr)
        let image = "\(Self.folder)/clean.png"
        let sd = try run(["sd", "-m", model, "--check", "-o", image] + draw)
        XCTAssertEqual(sd.status, 0, sd.stderr)
        let checked = try XCTUnwrap(sd.stderr.split(separator: "\n").first { $0.hasPrefix("--check: header and ") }, sd.stderr)
        XCTAssertTrue(checked.contains("sd15.unet") && checked.hasSuffix("checksums match") && !checked.contains("vicuna"), String(checked))
        XCTAssertTrue(FileManager.default.fileExists(atPath: image))
    }

    func testGenerateRefusesADamagedVicunaTensorNamingIt() throws {
        let (model, tensor) = try damaged(try container(), component: "vicuna", label: "vicuna")
        let result = try run(["generate", "-m", model, "--check"] + generate)
        XCTAssertNotEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("corrupt: vicuna: tensor '\(tensor)': CRC-32C"), result.stderr)
        XCTAssertEqual(result.stdout, "", "nothing may run before the check")
        // Without --check the damage goes unnoticed: the flag is what refuses it.
        XCTAssertEqual(try run(["generate", "-m", model] + generate).status, 0)
    }

    func testSDRefusesADamagedUNetTensorAndWritesNoImage() throws {
        let (model, tensor) = try damaged(try container(), component: "sd15.unet", label: "unet")
        let image = "\(Self.folder)/never.png"
        let result = try run(["sd", "-m", model, "--check", "-o", image] + draw)
        XCTAssertNotEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("corrupt: sd15.unet: tensor '\(tensor)': CRC-32C"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: image))
    }

    func testDamageInAComponentTheCommandDoesNotReadIsNotReported() throws {
        let model = try container()
        let (unetDamaged, unetTensor) = try damaged(model, component: "sd15.unet", label: "unet-for-generate")
        let text = try run(["generate", "-m", unetDamaged, "--check"] + generate)
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertFalse(text.stderr.contains(unetTensor), text.stderr)
        XCTAssertFalse(text.stderr.contains("corrupt"), text.stderr)

        let (vicunaDamaged, vicunaTensor) = try damaged(model, component: "vicuna", label: "vicuna-for-sd")
        let image = "\(Self.folder)/from-damaged-vicuna.png"
        let sd = try run(["sd", "-m", vicunaDamaged, "--check", "-o", image] + draw)
        XCTAssertEqual(sd.status, 0, sd.stderr)
        XCTAssertFalse(sd.stderr.contains(vicunaTensor), sd.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: image))
        // verify-file still names both.
        let unetReport = try run(["verify-file", unetDamaged]), vicunaReport = try run(["verify-file", vicunaDamaged])
        XCTAssertTrue(unetReport.stdout.contains("tensor '\(unetTensor)'"), unetReport.stdout)
        XCTAssertTrue(vicunaReport.stdout.contains("tensor '\(vicunaTensor)'"), vicunaReport.stdout)
    }

    func testHelpDescribesCheck() throws {
        for command in ["generate", "chat", "run", "sd", "audio", "video", "embed", "serve"] {
            let help = try run([command, "--help"])
            XCTAssertTrue(help.stdout.contains("--check"), "\(command): \(help.stdout)")
        }
        XCTAssertTrue(try run(["--help"]).stdout.contains("--check"))
    }
}
