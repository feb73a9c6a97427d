import NextGPTCore

/// A read-only ZIP reader over a `RandomAccessFile`, enough for `torch.save` archives:
/// end-of-central-directory search (a trailing comment is allowed), ZIP64 end record and
/// locator, ZIP64 extra fields, central directory entries, and the local header of an entry
/// to find where its data starts. Only STORED (uncompressed) entries can be read — torch
/// writes every record uncompressed, so a compressed entry is reported as an error.
///
/// Every offset and size read from the file is checked against the file size before use, so a
/// damaged or lying archive gives a `FormatError`, never a crash or a huge allocation.
public struct ZipArchive: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        /// 0 = stored, 8 = deflate, …
        public var compressionMethod: UInt16
        public var flags: UInt16
        public var crc32: UInt32
        public var compressedSize: Int
        public var uncompressedSize: Int
        /// Offset of the entry's local file header.
        public var localHeaderOffset: Int

        public var isStored: Bool { compressionMethod == 0 }
        public var isEncrypted: Bool { flags & 1 != 0 }
    }

    public let file: RandomAccessFile
    /// Entries in central-directory order.
    public let entries: [Entry]
    /// The archive comment (usually empty).
    public let comment: [UInt8]

    private static let eocdSignature: UInt32 = 0x0605_4b50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    private static let zip64EOCDSignature: UInt32 = 0x0606_4b50
    private static let centralSignature: UInt32 = 0x0201_4b50
    private static let localSignature: UInt32 = 0x0403_4b50
    private static let eocdSize = 22
    private static let maxCommentSize = 0xFFFF

    public init(path: String) throws {
        try self.init(file: RandomAccessFile(path: path))
    }

    public init(file: RandomAccessFile) throws {
        self.file = file
        let path = file.path
        let size = file.size
        guard size >= Self.eocdSize else {
            throw FormatError(path, "truncated zip archive: \(size) bytes, too short for an end-of-central-directory record")
        }

        // 1. End of central directory: scan backwards over at most 64 KiB of comment.
        let tailCount = min(size, Self.eocdSize + Self.maxCommentSize)
        let tailStart = size - tailCount
        let tail = try file.read(at: tailStart, count: tailCount)
        var eocdInTail: Int? = nil
        var candidate = tailCount - Self.eocdSize
        while candidate >= 0 {
            if tail.zipU32(candidate) == Self.eocdSignature {
                let commentLength = Int(tail.zipU16(candidate + 20))
                // Prefer a record whose comment ends exactly at the end of the file.
                if candidate + Self.eocdSize + commentLength == tailCount { eocdInTail = candidate; break }
                if eocdInTail == nil && candidate + Self.eocdSize + commentLength <= tailCount { eocdInTail = candidate }
            }
            candidate -= 1
        }
        guard let eocd = eocdInTail else {
            throw FormatError(path, "not a zip archive or truncated: no end-of-central-directory record in the last \(tailCount) bytes")
        }
        let eocdOffset = tailStart + eocd
        let commentLength = min(Int(tail.zipU16(eocd + 20)), tailCount - eocd - Self.eocdSize)
        comment = Array(tail[(eocd + Self.eocdSize)..<(eocd + Self.eocdSize + commentLength)])

        let diskNumber = tail.zipU16(eocd + 4)
        let cdDisk = tail.zipU16(eocd + 6)
        var entryCount = Int(tail.zipU16(eocd + 10))
        var cdSize = Int(tail.zipU32(eocd + 12))
        var cdOffset = Int(tail.zipU32(eocd + 16))
        var cdEndLimit = eocdOffset

        // 2. ZIP64: a locator right before the EOCD points at the ZIP64 end record.
        if eocdOffset >= 20, try file.read(at: eocdOffset - 20, count: 4).zipU32(0) == Self.zip64LocatorSignature {
            let locatorOffset = eocdOffset - 20
            let locator = try file.read(at: locatorOffset, count: 20)
            let recordOffset64 = locator.zipU64(8)
            guard locatorOffset >= 56, recordOffset64 <= UInt64(locatorOffset - 56) else {
                throw FormatError(path, "corrupt zip archive: ZIP64 end-of-central-directory record offset \(recordOffset64) does not leave room for the record before its locator at \(locatorOffset)")
            }
            let recordOffset = Int(recordOffset64)
            let record = try file.read(at: recordOffset, count: 56)
            guard record.zipU32(0) == Self.zip64EOCDSignature else {
                throw FormatError(path, "corrupt zip archive: no ZIP64 end-of-central-directory record at offset \(recordOffset)")
            }
            let count64 = record.zipU64(32)
            let cdSize64 = record.zipU64(40)
            let cdOffset64 = record.zipU64(48)
            guard count64 <= UInt64(size), cdSize64 <= UInt64(size), cdOffset64 <= UInt64(size) else {
                throw FormatError(path, "corrupt zip archive: ZIP64 end record claims \(count64) entries, a \(cdSize64)-byte central directory at \(cdOffset64), but the file has \(size) bytes")
            }
            entryCount = Int(count64)
            cdSize = Int(cdSize64)
            cdOffset = Int(cdOffset64)
            cdEndLimit = recordOffset
        } else {
            guard diskNumber == 0 && cdDisk == 0 else {
                throw FormatError(path, "multi-disk (split) zip archives are not supported")
            }
            if cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
                throw FormatError(path, "corrupt zip archive: ZIP64 values in the end record but no ZIP64 locator")
            }
        }

        // 3. Central directory.
        guard cdOffset <= cdEndLimit, cdSize <= cdEndLimit - cdOffset else {
            throw FormatError(path, "corrupt or truncated zip archive: central directory \(cdOffset)..<\(cdOffset &+ cdSize) runs past its end record at \(cdEndLimit)")
        }
        guard entryCount <= cdSize / 46 else {
            throw FormatError(path, "corrupt zip archive: \(entryCount) entries cannot fit a \(cdSize)-byte central directory")
        }
        let directory = try file.read(at: cdOffset, count: cdSize)
        var parsed: [Entry] = []
        parsed.reserveCapacity(entryCount)
        var cursor = 0
        for index in 0..<entryCount {
            guard cursor + 46 <= directory.count, directory.zipU32(cursor) == Self.centralSignature else {
                throw FormatError(path, "corrupt zip archive: central directory entry \(index) at offset \(cdOffset + cursor) is malformed")
            }
            let flags = directory.zipU16(cursor + 8)
            let method = directory.zipU16(cursor + 10)
            let crc = directory.zipU32(cursor + 16)
            var compressed = UInt64(directory.zipU32(cursor + 20))
            var uncompressed = UInt64(directory.zipU32(cursor + 24))
            let nameLength = Int(directory.zipU16(cursor + 28))
            let extraLength = Int(directory.zipU16(cursor + 30))
            let commentLength = Int(directory.zipU16(cursor + 32))
            let diskStart = directory.zipU16(cursor + 34)
            var localOffset = UInt64(directory.zipU32(cursor + 42))
            let nameStart = cursor + 46
            let extraStart = nameStart + nameLength
            let next = extraStart + extraLength + commentLength
            guard next <= directory.count else {
                throw FormatError(path, "corrupt zip archive: central directory entry \(index) runs past the directory")
            }
            let name = String(decoding: directory[nameStart..<extraStart], as: UTF8.self)

            // ZIP64 extended information (header id 0x0001): only the fields that are saturated
            // in the fixed record are present, in this order.
            let needs = (uncompressed == 0xFFFF_FFFF, compressed == 0xFFFF_FFFF, localOffset == 0xFFFF_FFFF)
            if needs.0 || needs.1 || needs.2 {
                var found = false
                var e = extraStart
                let extraEnd = extraStart + extraLength
                while e + 4 <= extraEnd {
                    let id = directory.zipU16(e)
                    let length = Int(directory.zipU16(e + 2))
                    let body = e + 4
                    guard body + length <= extraEnd else { break }
                    if id == 0x0001 {
                        var p = body
                        func take() throws -> UInt64 {
                            guard p + 8 <= body + length else {
                                throw FormatError(path, "corrupt zip archive: ZIP64 extra field of entry '\(name)' is too short")
                            }
                            defer { p += 8 }
                            return directory.zipU64(p)
                        }
                        if needs.0 { uncompressed = try take() }
                        if needs.1 { compressed = try take() }
                        if needs.2 { localOffset = try take() }
                        found = true
                        break
                    }
                    e = body + length
                }
                guard found else {
                    throw FormatError(path, "corrupt zip archive: entry '\(name)' has ZIP64 sizes but no ZIP64 extra field")
                }
            }
            guard diskStart == 0 || diskStart == 0xFFFF else {
                throw FormatError(path, "entry '\(name)' starts on disk \(diskStart): multi-disk zip archives are not supported")
            }
            guard compressed <= UInt64(size), uncompressed <= UInt64(Int.max / 2), localOffset <= UInt64(size) else {
                throw FormatError(path, "corrupt zip archive: entry '\(name)' claims \(compressed) bytes at offset \(localOffset), but the file has \(size)")
            }
            parsed.append(Entry(name: name, compressionMethod: method, flags: flags, crc32: crc,
                                compressedSize: Int(compressed), uncompressedSize: Int(uncompressed),
                                localHeaderOffset: Int(localOffset)))
            cursor = next
        }
        entries = parsed
    }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// Offset of the entry's first data byte, from its local header; checks that the data lies
    /// inside the file.
    public func dataOffset(of entry: Entry) throws -> Int {
        let path = file.path
        guard entry.localHeaderOffset <= file.size - 30 else {
            throw FormatError(path, "truncated zip archive: local header of '\(entry.name)' at \(entry.localHeaderOffset) is past the end of the file (\(file.size) bytes)")
        }
        let header = try file.read(at: entry.localHeaderOffset, count: 30)
        guard header.zipU32(0) == Self.localSignature else {
            throw FormatError(path, "corrupt zip archive: no local file header for '\(entry.name)' at offset \(entry.localHeaderOffset)")
        }
        let start = entry.localHeaderOffset + 30 + Int(header.zipU16(26)) + Int(header.zipU16(28))
        guard start <= file.size, entry.compressedSize <= file.size - start else {
            throw FormatError(path, "truncated zip archive: entry '\(entry.name)' needs bytes \(start)..<\(start + entry.compressedSize) but the file has \(file.size)")
        }
        return start
    }

    /// The byte range of a STORED entry's data in the file; a compressed or encrypted entry is an error.
    public func storedRange(of entry: Entry) throws -> Range<Int> {
        guard !entry.isEncrypted else {
            throw FormatError(file.path, "zip entry '\(entry.name)' is encrypted")
        }
        guard entry.isStored else {
            throw FormatError(file.path, "zip entry '\(entry.name)' is compressed (method \(entry.compressionMethod)); torch.save writes stored (uncompressed) entries — re-save the checkpoint with torch.save")
        }
        guard entry.compressedSize == entry.uncompressedSize else {
            throw FormatError(file.path, "corrupt zip archive: stored entry '\(entry.name)' has compressed size \(entry.compressedSize) but uncompressed size \(entry.uncompressedSize)")
        }
        let start = try dataOffset(of: entry)
        return start..<(start + entry.compressedSize)
    }

    /// Reads a whole STORED entry; `limit` caps the size accepted (a small metadata record).
    public func readStored(_ entry: Entry, limit: Int = Int.max) throws -> [UInt8] {
        let range = try storedRange(of: entry)
        guard range.count <= limit else {
            throw FormatError(file.path, "zip entry '\(entry.name)' is \(range.count) bytes, more than the \(limit) expected")
        }
        return try file.read(at: range.lowerBound, count: range.count)
    }
}

// Little-endian field reads; callers check bounds first.
extension Array where Element == UInt8 {
    @inline(__always) fileprivate func zipU16(_ i: Int) -> UInt16 { UInt16(self[i]) | UInt16(self[i + 1]) << 8 }
    @inline(__always) fileprivate func zipU32(_ i: Int) -> UInt32 {
        UInt32(self[i]) | UInt32(self[i + 1]) << 8 | UInt32(self[i + 2]) << 16 | UInt32(self[i + 3]) << 24
    }
    @inline(__always) fileprivate func zipU64(_ i: Int) -> UInt64 { UInt64(zipU32(i)) | UInt64(zipU32(i + 4)) << 32 }
}
