import Foundation

/// A radix-2 FFT of real input (`numpy.fft.rfft` / `torch.fft.rfft` for a power-of-two length):
/// n real samples → n/2 + 1 complex bins. An iterative in-place complex transform in float32
/// with twiddles computed in double; the imaginary input is zero.
public struct RealFFT: Sendable {
    public let count: Int
    private let cosines: [Float]
    private let sines: [Float]
    private let bitReversed: [Int]

    public init(count: Int) throws {
        guard count >= 2, count & (count - 1) == 0, count <= 1 << 20 else {
            throw SignalError("FFT length must be a power of two in 2…2²⁰, got \(count)")
        }
        self.count = count
        cosines = (0..<(count / 2)).map { Float(cos(-2 * Double.pi * Double($0) / Double(count))) }
        sines = (0..<(count / 2)).map { Float(sin(-2 * Double.pi * Double($0) / Double(count))) }
        let bits = count.trailingZeroBitCount
        bitReversed = (0..<count).map { i in
            var r = 0
            for b in 0..<bits where i & (1 << b) != 0 { r |= 1 << (bits - 1 - b) }
            return r
        }
    }

    /// `input` (count values) → bins 0…count/2 as (real, imaginary), using `re`/`im` (count
    /// each) as scratch.
    public func transform(_ input: UnsafePointer<Float>, re: UnsafeMutablePointer<Float>, im: UnsafeMutablePointer<Float>) {
        let n = count
        for i in 0..<n {
            re[bitReversed[i]] = input[i]
            im[i] = 0
        }
        var size = 2
        while size <= n {
            let half = size / 2, step = n / size
            var start = 0
            while start < n {
                for k in 0..<half {
                    let wr = cosines[k * step], wi = sines[k * step]
                    let a = start + k, b = a + half
                    let tr = re[b] * wr - im[b] * wi
                    let ti = re[b] * wi + im[b] * wr
                    re[b] = re[a] - tr
                    im[b] = im[a] - ti
                    re[a] += tr
                    im[a] += ti
                }
                start += size
            }
            size *= 2
        }
    }

    /// `numpy.fft.rfft(input)` as (real, imaginary) arrays of count/2 + 1.
    public func callAsFunction(_ input: [Float]) -> (real: [Float], imaginary: [Float]) {
        precondition(input.count == count, "RealFFT of \(count) points given \(input.count) samples")
        var re = [Float](repeating: 0, count: count), im = [Float](repeating: 0, count: count)
        input.withUnsafeBufferPointer { x in
            re.withUnsafeMutableBufferPointer { r in im.withUnsafeMutableBufferPointer { i in transform(x.baseAddress!, re: r.baseAddress!, im: i.baseAddress!) } }
        }
        return (Array(re[0...(count / 2)]), Array(im[0...(count / 2)]))
    }
}
