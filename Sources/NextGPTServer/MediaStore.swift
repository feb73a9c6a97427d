import Foundation
import NextGPTServerAPI
import Synchronization

/// The served folder of generated files and the scratch space of uploads. Names are 128 random
/// bits in hex, so a link is as private as the reply that carries it; files go past a total size
/// or an age are removed, oldest first. A file appears under its name only once complete.
final class MediaStore: Sendable {
    let directory: String
    let maxBytes: Int
    let maxAge: Double
    private let lock = Mutex(())

    static let mimeTypes = ["png": "image/png", "wav": "audio/wav", "mp4": "video/mp4", "gif": "image/gif"]

    init(directory: String?, maxBytes: Int, maxAge: Double) throws {
        self.directory = directory ?? NSTemporaryDirectory() + "nextgpt-serve-\(Self.randomName())"
        self.maxBytes = maxBytes
        self.maxAge = maxAge
        try FileManager.default.createDirectory(atPath: "\(self.directory)/.partial", withIntermediateDirectories: true)
    }

    static func randomName() -> String { RandomName.hex128() }

    /// Writes a new file through `write(path)` under a fresh name with `ext`; returns the name.
    func store(ext: String, _ write: (String) throws -> Void) throws -> String {
        let name = "\(Self.randomName()).\(ext)"
        let partial = "\(directory)/.partial/\(name)"
        do {
            try write(partial)
            try FileManager.default.moveItem(atPath: partial, toPath: "\(directory)/\(name)")
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
        prune(keeping: name)
        return name
    }

    /// A file's path for a name this store could have made, if it exists and has not expired.
    func path(of name: String) -> String? {
        let parts = name.split(separator: ".")
        guard parts.count == 2, parts[0].count == 32, parts[0].allSatisfy(\.isHexDigit), Self.mimeTypes[String(parts[1])] != nil else { return nil }
        let path = "\(directory)/\(name)"
        guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
              Date().timeIntervalSince(modified) <= maxAge else { return nil }
        return path
    }

    /// Removes expired files, then the oldest until the rest fit in `maxBytes` (never `keeping`, the file just made).
    func prune(keeping: String? = nil) {
        lock.withLock { _ in
            let manager = FileManager.default
            guard let names = try? manager.contentsOfDirectory(atPath: directory) else { return }
            var files: [(path: String, date: Date, size: Int)] = names.filter { !$0.hasPrefix(".") && $0 != keeping }.compactMap { name in
                let path = "\(directory)/\(name)"
                guard let attributes = try? manager.attributesOfItem(atPath: path),
                      let date = attributes[.modificationDate] as? Date, let size = attributes[.size] as? Int else { return nil }
                return (path, date, size)
            }
            files.sort { $0.date < $1.date }
            var total = files.reduce(0) { $0 + $1.size }
            for file in files where Date().timeIntervalSince(file.date) > maxAge || total > maxBytes {
                try? manager.removeItem(atPath: file.path)
                total -= file.size
            }
        }
    }

    /// Files and bytes currently served (for /metrics).
    func usage() -> (files: Int, bytes: Int) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }
        let bytes = names.reduce(0) { $0 + (((try? FileManager.default.attributesOfItem(atPath: "\(directory)/\($1)"))?[.size] as? Int) ?? 0) }
        return (names.count, bytes)
    }
}
