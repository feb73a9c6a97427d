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

    /// A new empty folder for a test class's shared files (containers converted once per class),
    /// inside this test process's own folder. Those folders outlive their classes, so each test
    /// run first removes the folders of earlier runs whose process has ended: no run leaves its
    /// converted containers behind for good.
    public static func temporaryDirectory(_ label: String = "test") -> String {
        let path = "\(processFolder)/\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static let processFolder: String = {
        let prefix = "nextgpt-tests-pid", manager = FileManager.default
        for name in (try? manager.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? [] where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count)), kill(pid, 0) != 0 && errno == ESRCH {
                try? manager.removeItem(atPath: NSTemporaryDirectory() + name)
            }
        }
        return NSTemporaryDirectory() + "\(prefix)\(getpid())"
    }()
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
