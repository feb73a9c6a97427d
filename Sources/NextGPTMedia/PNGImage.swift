import CImageShims
import Foundation

/// PNG files through libpng (errors come back from a small C helper, libpng's longjmp never
/// crosses Swift frames).
public enum PNGImage {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Any PNG (8/16-bit; gray, gray+alpha, RGB, RGBA, palette) as 8-bit RGB the way Pillow's
    /// `convert("RGB")` gives it: 16-bit samples keep their high byte, alpha is dropped, no gamma.
    public static func read(path: String) throws -> RGBImage {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ImageError.unreadable(path: path, reason: error.localizedDescription)
        }
        return try decode(data, path: path)
    }

    static func decode(_ data: Data, path: String) throws -> RGBImage {
        var error = [CChar](repeating: 0, count: 256)
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        let ok = data.withUnsafeBytes { raw in
            nextgpt_png_decode_rgb8(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &pixels, &width, &height,
                                    &error, error.count)
        }
        guard ok != 0, let pixels else { throw ImageError.corrupt(path: path, reason: String(nulTerminated: error)) }
        defer { nextgpt_free(pixels) }
        let count = Int(width) * Int(height) * 3
        return try RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    /// Writes 8-bit RGB with text chunks in the given order (e.g. prompt, seed, steps): `tEXt` for
    /// ASCII values, `iTXt` (UTF-8) for the others. The file
    /// is written beside its destination and renamed into place, so a failed write leaves nothing.
    public static func write(_ image: RGBImage, to path: String, text: [(key: String, value: String)] = []) throws {
        for (key, value) in text {
            guard (1...79).contains(key.utf8.count), key.allSatisfy({ $0.isASCII && $0 != "\0" }) else {
                throw ImageError.unwritable(path: path, reason: "text key '\(key)' must be 1–79 ASCII characters")
            }
            guard !value.contains("\0") else { throw ImageError.unwritable(path: path, reason: "text value of '\(key)' contains NUL") }
        }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(ProcessInfo.processInfo.processIdentifier).\(UUID().uuidString).tmp").path
        var error = [CChar](repeating: 0, count: 256)
        let keys = text.map { strdup($0.key) }, values = text.map { strdup($0.value) }
        defer { (keys + values).forEach { free($0) } }
        let ok = image.pixels.withUnsafeBufferPointer { pixels in
            keys.map { UnsafePointer($0) }.withUnsafeBufferPointer { k in
                values.map { UnsafePointer($0) }.withUnsafeBufferPointer { v in
                    nextgpt_png_write_rgb8(temporary, pixels.baseAddress, Int32(image.width), Int32(image.height),
                                           k.baseAddress, v.baseAddress, Int32(text.count), &error, error.count)
                }
            }
        }
        guard ok != 0 else {
            unlink(temporary)
            throw ImageError.unwritable(path: path, reason: String(nulTerminated: error))
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ImageError.unwritable(path: path, reason: reason)
        }
    }

    /// The text chunks (tEXt, zTXt, iTXt) libpng reads from a PNG, in file order.
    public static func textChunks(path: String) throws -> [(key: String, value: String)] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ImageError.unreadable(path: path, reason: error.localizedDescription)
        }
        var error = [CChar](repeating: 0, count: 256)
        var keys: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var values: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        var count: Int32 = 0
        let ok = data.withUnsafeBytes { raw in
            nextgpt_png_read_text(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &keys, &values, &count,
                                  &error, error.count)
        }
        guard ok != 0, let keys, let values else { throw ImageError.corrupt(path: path, reason: String(nulTerminated: error)) }
        defer {
            nextgpt_free_strings(keys, count)
            nextgpt_free_strings(values, count)
        }
        return (0..<Int(count)).map { i in
            (keys[i].map { String(cString: $0) } ?? "", values[i].map { String(cString: $0) } ?? "")
        }
    }
}
