import Foundation
import Synchronization

/// 128 random bits in hex: the names of served files, uploads and completion ids.
package enum RandomName {
    package static func hex128() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(format: "%016llx", generator.next() as UInt64) }.joined()
    }
}

/// Media a request brought, written to files for the sessions to read, removed when the request ends.
package final class Uploads: Sendable {
    package let directory: String
    private let count = Mutex(0)

    package init(root: String) throws {
        directory = "\(root)/.uploads/\(RandomName.hex128())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    package func write(_ data: Data, ext: String) throws -> String {
        let index = count.withLock { n in defer { n += 1 }; return n }
        let path = "\(directory)/\(index).\(ext)"
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    package func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
