import Foundation
import NextGPTKernels
import XCTest

/// What every test target shares, so no test file carries its own copy.
public enum TestSupport {
    /// The repository's root folder.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// `Tests/Fixtures`.
    public static let fixtures = "\(root)/Tests/Fixtures"
    /// `Tests/Fixtures/references`: PyTorch reference cases (ops, schedulers, torch.randn streams).
    public static let references = "\(fixtures)/references"
    /// `Tests/Fixtures/references/bundles`: the committed reference bundles and their containers.
    public static let bundles = "\(references)/bundles"

    /// A new empty folder under the system's temporary directory; the caller removes it.
    public static func temporaryDirectory(_ label: String = "test") -> String {
        let path = NSTemporaryDirectory() + "nextgpt-\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

extension XCTestCase {
    /// A new empty folder under the system's temporary directory, removed when the test ends.
    public func scratchDirectory(_ label: String = "test") throws -> String {
        let path = NSTemporaryDirectory() + "nextgpt-\(label)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }
}
