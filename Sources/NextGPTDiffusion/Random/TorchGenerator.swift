import Foundation
import NextGPTKernels

/// `torch.Generator("cpu").manual_seed(seed)` and the float32 `torch.randn` it feeds, reproduced
/// bit for bit as PyTorch computes them on an x86-64 CPU with AVX2 (the kernel torch dispatches to
/// on this project's machines), so a seed gives the same initial latents and the same
/// ancestral / DDIM noise as a diffusers pipeline.
///
/// Consecutive calls continue the stream exactly as torch does: tensors of 16 or more elements
/// draw one 24-bit uniform per element (plus 16 more when the count is not a multiple of 16, as
/// torch recomputes the last block) and never touch the cached normal; smaller tensors take
/// torch's scalar double path, which draws pairs and keeps the second sample for the next element.
public struct TorchGenerator: Sendable {
    public let seed: UInt64
    private var engine: MersenneTwister19937
    private var cachedNormal: Double?

    public init(seed: UInt64) {
        self.seed = seed
        engine = MersenneTwister19937(seed: seed)
    }

    /// `torch.randn(shape, generator=g, dtype=torch.float32)`.
    public mutating func randn(_ shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        return Tensor(shape: shape) { out in
            if count >= 16 {
                fillNormalBlocks(out)
            } else {
                for i in 0..<count { out[i] = Float(nextDoubleNormal()) }
            }
        }
    }

    /// One 32-bit output of torch's mt19937.
    public mutating func nextUInt32() -> UInt32 { engine.next() }

    /// `at::uniform_real_distribution<float>(0, 1)`: the low 24 bits scaled by 2⁻²⁴.
    mutating func nextFloatUniform() -> Float {
        Float(engine.next() & 0xFF_FFFF) * (1.0 / 16_777_216.0)
    }

    /// `at::uniform_real_distribution<double>(0, 1)` over `random64()` (first draw in the high half).
    mutating func nextDoubleUniform() -> Double {
        let high = UInt64(engine.next()), low = UInt64(engine.next())
        return Double(((high << 32) | low) & ((1 << 53) - 1)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `at::normal_distribution<double>(0, 1)`: Box–Muller in double through libm, the sine
    /// sample cached in the generator for the next call.
    mutating func nextDoubleNormal() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = nextDoubleUniform(), u2 = nextDoubleUniform()
        let radius = (-2.0 * Foundation.log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = radius * Foundation.sin(theta)
        return radius * Foundation.cos(theta)
    }

    private mutating func fillNormalBlocks(_ out: UnsafeMutableBufferPointer<Float>) {
        let count = out.count
        for i in 0..<count { out[i] = nextFloatUniform() }
        var start = 0
        while start + 16 <= count {
            BoxMuller16.transform(out.baseAddress! + start)
            start += 16
        }
        if count % 16 != 0 {
            let tail = out.baseAddress! + (count - 16)
            for i in 0..<16 { tail[i] = nextFloatUniform() }
            BoxMuller16.transform(tail)
        }
    }
}

/// PyTorch's mt19937 (`at::mt19937`): the state seeded from the low 32 bits of the seed.
struct MersenneTwister19937: Sendable {
    private static let n = 624, m = 397
    private var state: [UInt32]
    private var left = 1
    private var nextIndex = 0

    init(seed: UInt64) {
        var state = [UInt32](repeating: 0, count: Self.n)
        state[0] = UInt32(truncatingIfNeeded: seed)
        for j in 1..<Self.n {
            state[j] = 1_812_433_253 &* (state[j - 1] ^ (state[j - 1] >> 30)) &+ UInt32(j)
        }
        self.state = state
    }

    mutating func next() -> UInt32 {
        left -= 1
        if left == 0 { regenerate() }
        var y = state[nextIndex]
        nextIndex += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C_5680
        y ^= (y << 15) & 0xEFC6_0000
        y ^= y >> 18
        return y
    }

    private mutating func regenerate() {
        left = Self.n
        nextIndex = 0
        state.withUnsafeMutableBufferPointer { s in
            func twist(_ u: UInt32, _ v: UInt32) -> UInt32 {
                (((u & 0x8000_0000) | (v & 0x7FFF_FFFF)) >> 1) ^ ((v & 1) != 0 ? 0x9908_B0DF : 0)
            }
            for i in 0..<Self.n {
                s[i] = s[(i + Self.m) % Self.n] ^ twist(s[i], s[(i + 1) % Self.n])
            }
        }
    }
}

/// torch's AVX2 Box–Muller over 16 floats (first 8 are u1 sources, last 8 the angles), with
/// avx_mathfun's cephes log and sincos. Every rounding follows the machine code GCC emits for
/// torch's kernel: GCC contracts the intrinsic multiply-adds into FMAs, so the same steps are
/// fused here (`addingProduct`) and the rest rounded one operation at a time.
enum BoxMuller16 {
    static let twoPi = Float(2.0 * Double.pi)

    static func transform(_ data: UnsafeMutablePointer<Float>) {
        for j in 0..<8 {
            let u1 = 1 - data[j]
            let u2 = data[j + 8]
            let radius = (-2 * log(u1)).squareRoot()
            let (sine, cosine) = sincos(twoPi * u2)
            // _mm256_fmadd_ps(n, std = 1, mean = 0): turns −0 into +0.
            data[j] = Float(0).addingProduct(radius * cosine, 1)
            data[j + 8] = Float(0).addingProduct(radius * sine, 1)
        }
    }

    // Constants are written as C does: a double literal rounded to float.
    private static let sqrtHalf = Float(0.707106781186547524 as Double)
    private static let logP: [Float] = [
        7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
        -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1,
    ].map { (d: Double) in Float(d) }
    private static let logQ1 = Float(-2.12194440e-4 as Double)
    private static let logQ2 = Float(0.693359375 as Double)

    /// log256_ps for one lane (u1 ∈ (0, 1], so the invalid/denormal handling never triggers
    /// beyond the clamp kept for fidelity).
    static func log(_ input: Float) -> Float {
        if input <= 0 { return .nan }
        let clamped = max(input, Float(bitPattern: 0x0080_0000))
        let bits = clamped.bitPattern
        var e = Float(Int32(bitPattern: bits >> 23) - 0x7F) + 1
        var x = Float(bitPattern: (bits & ~0x7F80_0000) | Float(0.5).bitPattern)
        let below = x < sqrtHalf
        let addend: Float = below ? x : 0
        x = x - 1
        e = e - (below ? 1 : 0)
        x = x + addend
        let z = x * x
        var y = logP[0]
        for p in logP.dropFirst() { y = p.addingProduct(y, x) }
        y = y * x
        y = (e * logQ1).addingProduct(y, z)
        y = y.addingProduct(-z, 0.5)
        x = x + y
        return x.addingProduct(e, logQ2)
    }

    private static let fourOverPi = Float(1.27323954473516 as Double)
    private static let minusDP1 = Float(-0.78515625 as Double)
    private static let minusDP2 = Float(-2.4187564849853515625e-4 as Double)
    private static let minusDP3 = Float(-3.77489497744594108e-8 as Double)
    private static let sinP: [Float] = [-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1].map { (d: Double) in Float(d) }
    private static let cosP: [Float] = [2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002]
        .map { (d: Double) in Float(d) }

    /// sincos256_ps for one lane.
    static func sincos(_ input: Float) -> (sin: Float, cos: Float) {
        var x = Float(bitPattern: input.bitPattern & 0x7FFF_FFFF)
        var signSin = input.bitPattern & 0x8000_0000
        let scaled = x * fourOverPi
        var j = Int32(truncatingIfNeeded: Int64(scaled.rounded(.towardZero)))
        j = (j &+ 1) & ~1
        let yj = Float(j)
        let swapSignSin = UInt32(bitPattern: (j & 4) << 29)
        let sinUsesSecond = (j & 2) == 0
        x = x.addingProduct(yj, minusDP1)
        x = x.addingProduct(yj, minusDP2)
        x = x.addingProduct(yj, minusDP3)
        let signCos = UInt32(bitPattern: (~(j &- 2) & 4) << 29)
        signSin ^= swapSignSin

        let z = x * x
        let halfZ = z * 0.5
        var y = cosP[1].addingProduct(cosP[0], z)
        y = cosP[2].addingProduct(y, z)
        y = y * z
        y = (-halfZ).addingProduct(z, y)
        y = y + 1

        var y2 = sinP[1].addingProduct(sinP[0], z)
        y2 = sinP[2].addingProduct(y2, z)
        y2 = y2 * z
        y2 = x.addingProduct(y2, x)

        // The kernel selects by masking and adds the zeroed other polynomial back in.
        let ysin2: Float = sinUsesSecond ? y2 : 0
        let ysin1: Float = sinUsesSecond ? 0 : y
        let cosFromSecond = y2 - ysin2
        let cosFromFirst = y - ysin1
        let sine = ysin2 + ysin1
        let cosine = cosFromSecond + cosFromFirst
        return (Float(bitPattern: sine.bitPattern ^ signSin), Float(bitPattern: cosine.bitPattern ^ signCos))
    }
}
