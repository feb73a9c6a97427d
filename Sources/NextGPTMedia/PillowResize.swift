import Foundation

/// Pillow's `Image.resize` of an 8-bit image (libImaging/Resample.c, `ImagingResample` with the
/// full box): a horizontal pass, then a vertical pass over its rows, each one clipping to 8 bits.
/// Coefficients are computed in double, normalized to sum 1, then fixed point with 22 fractional
/// bits; when downscaling the filter's support grows by the scale factor (an antialiasing filter).
///
/// `region` asks for a window of the resized image only. Every output pixel has its own
/// coefficients, so the window equals cropping the full result while an absurdly long side costs
/// nothing.
public enum PillowResize {
    /// Pillow's `Image.Resampling` filters; only those the pre-processors use.
    public enum Filter: Sendable {
        /// `BICUBIC`: the cubic convolution kernel with a = −0.5, support 2.
        case bicubic

        var support: Double {
            switch self { case .bicubic: return 2 }
        }

        func weight(_ t: Double) -> Double {
            switch self {
            case .bicubic:
                let a = -0.5
                let x = abs(t)
                if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
                if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
                return 0
            }
        }
    }

    /// Sizes beyond these are refused before anything is allocated (Pillow itself stops near 2³¹ bytes).
    public static let maximumSide = 1 << 20
    public static let maximumPixels = 1 << 28

    static let precisionBits = 32 - 8 - 2

    /// The resized image `width` × `height`, or its window `region` (x, y, width, height) when given.
    public static func resize(_ image: RGBImage, width: Int, height: Int, filter: Filter = .bicubic,
                              region: (x: Int, y: Int, width: Int, height: Int)? = nil) throws -> RGBImage {
        guard width > 0, height > 0, width <= maximumSide, height <= maximumSide else {
            throw ImageError.badImage("cannot resize \(image.width)×\(image.height) to \(width)×\(height): each side must be 1…\(maximumSide)")
        }
        let window = region ?? (0, 0, width, height)
        guard window.width > 0, window.height > 0, window.x >= 0, window.y >= 0,
              window.x + window.width <= width, window.y + window.height <= height else {
            throw ImageError.badImage("window \(window) is not inside the resized \(width)×\(height) image")
        }
        guard image.width * image.height <= maximumPixels, window.width * window.height <= maximumPixels else {
            throw ImageError.badImage("cannot resize \(image.width)×\(image.height) to \(width)×\(height): more than \(maximumPixels) pixels")
        }
        let columns = Coefficients(inSize: image.width, outSize: width, outRange: window.x..<(window.x + window.width),
                                   filter: filter, needed: width != image.width)
        let rows = Coefficients(inSize: image.height, outSize: height, outRange: window.y..<(window.y + window.height),
                                filter: filter, needed: height != image.height)
        // Source rows the vertical pass reads, as Pillow's ybox_first…ybox_last.
        let firstRow = rows.bounds.map(\.start).min()!
        let lastRow = rows.bounds.map { $0.start + $0.count }.max()!
        let horizontal = columns.apply(to: image.pixels, lines: lastRow - firstRow, lineOffset: firstRow,
                                       inSize: image.width, stride: 3, step: image.width * 3)
        let vertical = rows.apply(to: horizontal, lines: window.width, lineOffset: 0,
                                  inSize: lastRow - firstRow, stride: window.width * 3, step: 3, sourceShift: firstRow)
        return try RGBImage(width: window.width, height: window.height, pixels: vertical)
    }

    /// Per output pixel along one axis: the first source index, the tap count and fixed-point taps.
    struct Coefficients {
        var bounds: [(start: Int, count: Int)] = []
        var taps: [Int32] = []
        var ksize = 1
        let identity: Bool

        init(inSize: Int, outSize: Int, outRange: Range<Int>, filter: Filter, needed: Bool) {
            identity = !needed
            guard needed else {
                bounds = outRange.map { ($0, 1) }
                return
            }
            let scale = Double(inSize) / Double(outSize)
            let filterScale = max(scale, 1)
            let support = filter.support * filterScale
            ksize = Int(support.rounded(.up)) * 2 + 1
            taps = [Int32](repeating: 0, count: outRange.count * ksize)
            var weights = [Double](repeating: 0, count: ksize)
            let one = Double(1 << PillowResize.precisionBits)
            for (i, xx) in outRange.enumerated() {
                let center = (Double(xx) + 0.5) * scale
                // C's (int) truncation, as Resample.c rounds the bounds.
                let xmin = max(Int(center - support + 0.5), 0)
                let xmax = min(Int(center + support + 0.5), inSize) - xmin
                var sum = 0.0
                for x in 0..<xmax {
                    weights[x] = filter.weight((Double(x + xmin) - center + 0.5) / filterScale)
                    sum += weights[x]
                }
                for x in 0..<xmax {
                    let w = sum != 0 ? weights[x] / sum : weights[x]
                    taps[i * ksize + x] = Int32(w < 0 ? (-0.5 + w * one) : (0.5 + w * one))
                }
                bounds.append((xmin, xmax))
            }
        }

        /// One pass: for every line (a row for the horizontal pass, a column for the vertical one)
        /// and every output index, the clipped fixed-point sum over the source pixels. Source pixel
        /// i of line l is at `(l + lineOffset) * step + (i - sourceShift) * stride` (times 3 channels inside).
        func apply(to source: [UInt8], lines: Int, lineOffset: Int, inSize: Int, stride: Int, step: Int,
                   sourceShift: Int = 0) -> [UInt8] {
            let outCount = bounds.count
            // Horizontal: output is lines × outCount × 3; vertical: outCount rows × lines × 3.
            let horizontalPass = stride == 3
            var out = [UInt8](repeating: 0, count: lines * outCount * 3)
            let precision = PillowResize.precisionBits
            let half = 1 << (precision - 1)
            let limit = 1 << (precision + 8)
            source.withUnsafeBufferPointer { src in
                taps.withUnsafeBufferPointer { k in
                    out.withUnsafeMutableBufferPointer { dst in
                        for line in 0..<lines {
                            let lineBase = (line + lineOffset) * step
                            for o in 0..<outCount {
                                let (start, count) = bounds[o]
                                let target = horizontalPass ? (line * outCount + o) * 3 : (o * lines + line) * 3
                                if identity {
                                    let p = lineBase + (start - sourceShift) * stride
                                    for c in 0..<3 { dst[target + c] = src[p + c] }
                                    continue
                                }
                                var s0 = half, s1 = half, s2 = half
                                for x in 0..<count {
                                    let p = lineBase + (start + x - sourceShift) * stride
                                    let w = Int(k[o * ksize + x])
                                    s0 += Int(src[p]) * w
                                    s1 += Int(src[p + 1]) * w
                                    s2 += Int(src[p + 2]) * w
                                }
                                func clip8(_ v: Int) -> UInt8 { v >= limit ? 255 : v <= 0 ? 0 : UInt8(v >> precision) }
                                dst[target] = clip8(s0)
                                dst[target + 1] = clip8(s1)
                                dst[target + 2] = clip8(s2)
                            }
                        }
                    }
                }
            }
            return out
        }
    }
}
