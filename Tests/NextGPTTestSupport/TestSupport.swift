import Foundation
import NextGPTKernels

/// What every test target shares, so no test file carries its own copy.
public enum TestSupport {
    /// The repository's root folder.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// `Tests/Fixtures`.
    public static let fixtures = "\(root)/Tests/Fixtures"

    /// A new empty folder under the system's temporary directory.
    public static func temporaryDirectory(_ label: String = "test") -> String {
        let path = NSTemporaryDirectory() + "nextgpt-\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
