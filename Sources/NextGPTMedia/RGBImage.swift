import Foundation

/// 8-bit RGB pixels, rows top to bottom, channels interleaved (what Pillow's `np.array(image)` holds).
public struct RGBImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// width · height · 3 bytes.
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) throws {
        guard width > 0, height > 0, pixels.count == width * height * 3 else {
            throw ImageError.badImage("\(pixels.count) bytes for a \(width)×\(height) RGB image")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The most pixels a decoded image may have: 2^28 (16384²), 768 MiB as RGB. Pillow's own
    /// decompression-bomb error starts at 2 × 89 478 485 pixels; this is the same order.
    public static let maximumPixels = 1 << 28

    /// Refuses declared dimensions before anything is allocated for them.
    static func checkDimensions(width: Int, height: Int, path: String) throws {
        guard width > 0, height > 0 else { return }  // unknown until decoded; checked again then
        guard width.multipliedReportingOverflow(by: height).partialValue <= maximumPixels, width <= maximumPixels, height <= maximumPixels else {
            throw ImageError.corrupt(path: path, reason: "declares \(width)×\(height) pixels, more than the \(maximumPixels) allowed")
        }
    }
}

public enum ImageError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case corrupt(path: String, reason: String)
    case unwritable(path: String, reason: String)
    case badImage(String)
    case badTensor(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read (\(reason))"
        case .corrupt(let path, let reason): return "\(path): not a readable image (\(reason))"
        case .unwritable(let path, let reason): return "\(path): cannot write (\(reason))"
        case .badImage(let m): return "image: \(m)"
        case .badTensor(let m): return "image tensor: \(m)"
        }
    }
}

/// Reads any image file: PNG through libpng (by signature), everything else (JPEG, WebP, BMP, …)
/// through libavformat/libavcodec.
public enum ImageFile {
    public static func read(path: String) throws -> RGBImage {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ImageError.unreadable(path: path, reason: error.localizedDescription)
        }
        if data.starts(with: PNGImage.signature) { return try PNGImage.decode(data, path: path) }
        return try FFmpegImageDecoder.read(path: path)
    }
}
