import NextGPTKernels

// Deterministic inputs for tests. Two generators are in use, each with its own way of turning a
// draw into a float; every test keeps the generator, start and mapping its inputs were made with,
// so the numbers it checks never change.

/// Marsaglia's xorshift64 (shifts 13, 7, 17): the generator of the kernel and op twin tests.
public struct Xorshift64: Sendable {
    /// The golden-ratio constant `init(seed:)` spreads seeds with.
    public static let goldenRatio: UInt64 = 0x9E37_79B9_7F4A_7C15

    public private(set) var state: UInt64

    /// Starts from `seed` times the golden-ratio constant, made odd (so never from zero).
    public init(seed: UInt64) { state = seed &* Self.goldenRatio | 1 }

    /// Starts from `state` as given (xorshift stays at zero forever from zero).
    public init(state: UInt64) {
        precondition(state != 0, "xorshift64 cannot start from 0")
        self.state = state
    }

    public mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    /// Uniform in [-scale, scale): the top 24 bits of one draw.
    public mutating func uniform(_ scale: Float = 1) -> Float {
        (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale
    }

    /// The sum of two uniform draws, shifted: triangular on (-scale, scale), denser near zero.
    public mutating func triangular(_ scale: Float = 1) -> Float {
        let u = Float(next() >> 40) / Float(1 << 24)
        let v = Float(next() >> 40) / Float(1 << 24)
        return (u + v - 1) * scale
    }

    /// One of the values k / 10⁶ − 1 for k in 0…2,000,000 (one draw modulo 2,000,001), times `scale`.
    public mutating func millionth(_ scale: Float = 1) -> Float {
        (Float(next() % 2_000_001) / 1_000_000 - 1) * scale
    }

    /// `count` values of `uniform(scale)`.
    public mutating func uniforms(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { _ in uniform(scale) } }
    /// `count` values of `triangular(scale)`.
    public mutating func triangulars(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { _ in triangular(scale) } }
    /// `count` values of `millionth(scale)`.
    public mutating func millionths(_ count: Int, scale: Float = 1) -> [Float] { (0..<count).map { _ in millionth(scale) } }
}

/// Knuth's MMIX linear congruential generator: the generator of the convolution, attention and
/// concurrency tests and of the corrupted-file loops.
public struct LinearCongruential64: Sendable {
    public private(set) var state: UInt64

    /// Starts from `seed` times the xorshift golden-ratio constant, made odd.
    public init(seed: UInt64) { state = seed &* Xorshift64.goldenRatio | 1 }

    /// Starts from `state` as given.
    public init(state: UInt64) { self.state = state }

    public mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state
    }

    /// One of the values k / divisor for k in −1000…1000: the top 53 bits of one draw modulo 2001.
    public mutating func thousandth(over divisor: Float = 1000) -> Float {
        Float(Int64(bitPattern: next() >> 11) % 2001 - 1000) / divisor
    }

    /// A tensor of `shape` filled with `thousandth(over: divisor)` in row-major order.
    public mutating func tensor(_ shape: [Int], divisor: Float = 1000) -> Tensor {
        Tensor(shape: shape, values: (0..<shape.reduce(1, *)).map { _ in thousandth(over: divisor) })
    }
}

/// `count` values uniform in [-scale, scale) from `Xorshift64(seed: seed)` (the op twins' inputs).
public func xorshiftUniform(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var generator = Xorshift64(seed: seed)
    return generator.uniforms(count, scale: scale)
}

/// A tensor of `shape` filled with `xorshiftUniform(_:seed:scale:)`.
public func xorshiftUniform(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    Tensor(shape: shape, values: xorshiftUniform(shape.reduce(1, *), seed: seed, scale: scale))
}

/// `count` values k / 10⁶ − 1 times `scale` from xorshift64 started at `state` itself (the
/// format-level kernel twins' inputs; by default from the golden-ratio constant).
public func xorshiftMillionths(_ count: Int, state: UInt64 = Xorshift64.goldenRatio, scale: Float = 1) -> [Float] {
    var generator = Xorshift64(state: state)
    return generator.millionths(count, scale: scale)
}

/// A tensor of `shape` with values k / 1000, k in −1000…1000, from `LinearCongruential64(seed: seed)`.
public func lcgThousandths(_ shape: [Int], seed: UInt64) -> Tensor {
    var generator = LinearCongruential64(seed: seed)
    return generator.tensor(shape)
}

/// A tensor of `shape` with values k / 1000, k in −1000…1000, from `LinearCongruential64(state: state)`.
public func lcgThousandths(_ shape: [Int], state: UInt64) -> Tensor {
    var generator = LinearCongruential64(state: state)
    return generator.tensor(shape)
}
