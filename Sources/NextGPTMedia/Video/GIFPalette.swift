import CFFmpeg

/// One 256-colour palette for a whole clip (median cut over a 15-bit colour histogram of every
/// frame, each colour the mean of the pixels it stands for; what ffmpeg's `palettegen` does in
/// spirit) and the PAL8 frames the GIF encoder takes. No dithering: generated video is smooth,
/// and dithering would flicker from frame to frame.
struct GIFPalette {
    /// 0xAARRGGBB, as libavutil's PAL8 palette plane holds it.
    let colours: [UInt32]
    /// 15-bit colour (5 bits per channel) → palette index.
    let lookup: [UInt8]

    static func key(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> Int { Int(r >> 3) << 10 | Int(g >> 3) << 5 | Int(b >> 3) }

    init(_ frames: [RGBImage]) {
        var count = [Int](repeating: 0, count: 1 << 15)
        var sums = [Int](repeating: 0, count: 3 << 15)
        for frame in frames {
            let p = frame.pixels
            for i in stride(from: 0, to: p.count, by: 3) {
                let k = Self.key(p[i], p[i + 1], p[i + 2])
                count[k] += 1
                sums[3 * k] += Int(p[i]); sums[3 * k + 1] += Int(p[i + 1]); sums[3 * k + 2] += Int(p[i + 2])
            }
        }
        func channel(_ k: Int, _ c: Int) -> Int { (k >> (10 - 5 * c)) & 31 }
        func widest(_ box: [Int]) -> (range: Int, channel: Int) {
            guard box.count > 1 else { return (0, 0) }
            return (0..<3).map { c -> (Int, Int) in
                let values = box.map { channel($0, c) }
                return (values.max()! - values.min()!, c)
            }.max { $0.0 < $1.0 }!
        }
        var boxes: [[Int]] = [(0..<(1 << 15)).filter { count[$0] > 0 }]
        var ranges = [widest(boxes[0])]
        // Split the box with the widest channel range at its pixel-weighted median until 256 boxes.
        while boxes.count < 256 {
            guard let best = ranges.indices.max(by: { ranges[$0].range < ranges[$1].range }), ranges[best].range > 0 else { break }
            let axis = ranges[best].channel
            let sorted = boxes[best].sorted { channel($0, axis) < channel($1, axis) }
            let total = sorted.reduce(0) { $0 + count[$1] }
            var running = 0, cut = 1
            for (i, k) in sorted.enumerated() {
                running += count[k]
                if running * 2 >= total { cut = max(1, min(i + 1, sorted.count - 1)); break }
            }
            boxes[best] = Array(sorted[..<cut])
            boxes.append(Array(sorted[cut...]))
            ranges[best] = widest(boxes[best])
            ranges.append(widest(boxes[boxes.count - 1]))
        }
        var rgb: [(Int, Int, Int)] = boxes.map { box in
            let n = max(box.reduce(0) { $0 + count[$1] }, 1)
            let s = box.reduce((0, 0, 0)) { ($0.0 + sums[3 * $1], $0.1 + sums[3 * $1 + 1], $0.2 + sums[3 * $1 + 2]) }
            return ((s.0 + n / 2) / n, (s.1 + n / 2) / n, (s.2 + n / 2) / n)
        }
        if rgb.isEmpty { rgb = [(0, 0, 0)] }
        colours = rgb.map { 0xFF00_0000 | UInt32($0.0) << 16 | UInt32($0.1) << 8 | UInt32($0.2) }
            + [UInt32](repeating: 0xFF00_0000, count: 256 - rgb.count)
        // Every 15-bit colour maps to the nearest palette colour (from its bin's centre).
        var lookup = [UInt8](repeating: 0, count: 1 << 15)
        for k in 0..<(1 << 15) {
            let centre = (channel(k, 0) << 3 | 4, channel(k, 1) << 3 | 4, channel(k, 2) << 3 | 4)
            var best = 0, bestDistance = Int.max
            for (i, c) in rgb.enumerated() {
                let d = (c.0 - centre.0) * (c.0 - centre.0) + (c.1 - centre.1) * (c.1 - centre.1) + (c.2 - centre.2) * (c.2 - centre.2)
                if d < bestDistance { (best, bestDistance) = (i, d) }
            }
            lookup[k] = UInt8(best)
        }
        // A colour that is itself in the histogram stays in its own box.
        for (index, box) in boxes.enumerated() { for k in box { lookup[k] = UInt8(index) } }
        self.lookup = lookup
    }

    /// Writes `image` as palette indices and the palette into a PAL8 frame.
    func fill(_ frame: UnsafeMutablePointer<AVFrame>, from image: RGBImage) throws {
        guard let indices = frame.pointee.data.0, let plane = frame.pointee.data.1 else { return }
        let stride = Int(frame.pointee.linesize.0)
        plane.withMemoryRebound(to: UInt32.self, capacity: 256) { palette in
            for i in 0..<256 { palette[i] = colours[i] }
        }
        let p = image.pixels
        for y in 0..<image.height {
            for x in 0..<image.width {
                let i = (y * image.width + x) * 3
                indices[y * stride + x] = lookup[Self.key(p[i], p[i + 1], p[i + 2])]
            }
        }
    }
}
