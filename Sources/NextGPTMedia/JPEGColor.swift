import Foundation

/// libjpeg(-turbo)'s decoder-side colour path, which Pillow (and so diffusers) uses: "fancy"
/// triangle-filter chroma upsampling and fixed-point YCbCr→RGB with its rounding. libavcodec hands
/// us the decoded planes; converting them here instead of with libswscale keeps JPEG pixels
/// within the IDCT's difference (a level or two) of Pillow's.
enum JPEGColor {
    /// Planes of a full-range YCbCr picture. `chromaShiftX/Y` are 0 (full) or 1 (half resolution).
    struct Planes {
        let width: Int, height: Int
        let chromaShiftX: Int, chromaShiftY: Int
        let y: (UnsafePointer<UInt8>, Int)
        let cb: (UnsafePointer<UInt8>, Int)
        let cr: (UnsafePointer<UInt8>, Int)
    }

    static func rgb(_ p: Planes) -> [UInt8] {
        let cb = upsample(p.cb, p), cr = upsample(p.cr, p)
        var out = [UInt8](repeating: 0, count: p.width * p.height * 3)
        let scale = 1 << 16, half = 1 << 15
        func fix(_ x: Double) -> Int { Int(x * Double(scale) + 0.5) }
        let (rCr, bCb, gCr, gCb) = (fix(1.40200), fix(1.77200), fix(0.71414), fix(0.34414))
        for row in 0..<p.height {
            for col in 0..<p.width {
                let yv = Int(p.y.0[row * p.y.1 + col])
                let b = Int(cb[row * p.width + col]) - 128, r = Int(cr[row * p.width + col]) - 128
                let red = yv + ((rCr * r + half) >> 16)
                let green = yv + ((-gCb * b + half - gCr * r) >> 16)
                let blue = yv + ((bCb * b + half) >> 16)
                let o = (row * p.width + col) * 3
                out[o] = UInt8(clamping: red)
                out[o + 1] = UInt8(clamping: green)
                out[o + 2] = UInt8(clamping: blue)
            }
        }
        return out
    }

    /// A chroma plane brought to full resolution (width · height bytes).
    private static func upsample(_ plane: (UnsafePointer<UInt8>, Int), _ p: Planes) -> [UInt8] {
        let cw = (p.width + (1 << p.chromaShiftX) - 1) >> p.chromaShiftX
        let ch = (p.height + (1 << p.chromaShiftY) - 1) >> p.chromaShiftY
        func at(_ r: Int, _ c: Int) -> Int { Int(plane.0[min(max(r, 0), ch - 1) * plane.1 + c]) }
        var out = [UInt8](repeating: 0, count: p.width * p.height)
        switch (p.chromaShiftX, p.chromaShiftY) {
        case (0, 0):
            for r in 0..<p.height { for c in 0..<p.width { out[r * p.width + c] = UInt8(at(r, c)) } }
        case (1, 0):
            // h2v1_fancy_upsample
            for r in 0..<p.height {
                for i in 0..<cw {
                    let this = at(r, i)
                    let left = i == 0 ? this * 4 : this * 3 + at(r, i - 1) + 1
                    let right = i == cw - 1 ? this * 4 : this * 3 + at(r, i + 1) + 2
                    let even = i == 0 ? this : left >> 2, odd = i == cw - 1 ? this : right >> 2
                    if 2 * i < p.width { out[r * p.width + 2 * i] = UInt8(even) }
                    if 2 * i + 1 < p.width { out[r * p.width + 2 * i + 1] = UInt8(odd) }
                }
            }
        default:
            // h2v2_fancy_upsample: each output row mixes its chroma row (3/4) with the nearer
            // neighbouring row (1/4), then the same horizontally, with libjpeg's 8/7 biases.
            for r in 0..<p.height {
                let source = r >> 1, neighbour = r & 1 == 0 ? source - 1 : source + 1
                func colsum(_ c: Int) -> Int { at(source, c) * 3 + at(neighbour, c) }
                for i in 0..<cw {
                    let this = colsum(i)
                    let even = i == 0 ? (this * 4 + 8) >> 4 : (this * 3 + colsum(i - 1) + 8) >> 4
                    let odd = i == cw - 1 ? (this * 4 + 7) >> 4 : (this * 3 + colsum(i + 1) + 7) >> 4
                    if 2 * i < p.width { out[r * p.width + 2 * i] = UInt8(even) }
                    if 2 * i + 1 < p.width { out[r * p.width + 2 * i + 1] = UInt8(odd) }
                }
            }
        }
        return out
    }
}
