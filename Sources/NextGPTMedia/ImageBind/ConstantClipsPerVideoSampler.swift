import Foundation

/// Which clip-start rule of pytorchvideo's `ConstantClipsPerVideoSampler` to follow. The two
/// releases disagree (NEXTGPT.md §3.5): 0.1.5, NExT-GPT's pin, spaces starts by
/// `max(D - clip, 0) / clips`; the fix of 2022-04-28 (commit 9368f30, in the revision ImageBind
/// pins) by `max(D - clip, 0) / max(clips - 1, 1)`, so its last clip ends at the end.
public enum ClipSamplerRule: String, Sendable, CaseIterable {
    case pytorchvideo015 = "pytorchvideo-0.1.5"
    case pytorchvideoMain = "pytorchvideo-main"
}

/// An exact non-negative rational, standing in for Python's `Fraction`: pytorchvideo keeps clip
/// times as Fractions, and data.py's slice bounds `int(start * sample_rate)` depend on that exactness.
public struct ExactFraction: Sendable, Comparable, CustomStringConvertible {
    public let numerator: Int128
    public let denominator: Int128

    public init(_ numerator: Int128, _ denominator: Int128 = 1) {
        precondition(denominator > 0 && numerator >= 0, "ExactFraction holds non-negative values with a positive denominator")
        let divisor = Self.gcd(numerator, denominator)
        self.numerator = numerator / divisor
        self.denominator = denominator / divisor
    }

    /// `Fraction(value)` of a finite non-negative double: its exact binary value.
    public init(exactly value: Double) {
        precondition(value.isFinite && value >= 0, "ExactFraction(exactly:) needs a finite value ≥ 0, got \(value)")
        guard value > 0 else { self.init(0); return }
        let significand = Int128(value.significandBitPattern) | (value.isNormal ? Int128(1) << 52 : 0)
        let exponent = (value.isNormal ? Int(value.exponent) : -1022) - 52
        if exponent >= 0 {
            self.init(significand << exponent)
        } else if exponent > -126 {
            self.init(significand, Int128(1) << -exponent)
        } else {
            // Below 2^-73: no clip time of a real recording; keep the value's first bits exactly.
            self.init(significand >> (-exponent - 125), Int128(1) << 125)
        }
    }

    public var description: String { "\(numerator)/\(denominator)" }

    /// `float(fraction)`: correctly rounded like Python's int / int true division.
    public var doubleValue: Double {
        var odd = denominator, twos = 0
        while odd & 1 == 0 { odd >>= 1; twos += 1 }
        return Self.roundedQuotient(numerator, odd) * pow(2, -Double(twos))
    }

    /// `int(fraction * k)` for k ≥ 0: the floor of the exact product.
    public func floorTimes(_ k: Int) -> Int {
        let (product, overflow) = numerator.multipliedReportingOverflow(by: Int128(k))
        if overflow { return Int((doubleValue * Double(k)).rounded(.down)) }
        return Int(product / denominator)
    }

    public static func + (a: ExactFraction, b: ExactFraction) -> ExactFraction {
        ExactFraction(a.numerator * b.denominator + b.numerator * a.denominator, a.denominator * b.denominator)
    }

    public static func < (a: ExactFraction, b: ExactFraction) -> Bool {
        a.numerator * b.denominator < b.numerator * a.denominator
    }

    /// The fraction times `k / divisor`, exactly.
    func scaled(by k: Int, dividedBy divisor: Int) -> ExactFraction {
        ExactFraction(numerator * Int128(k), denominator * Int128(divisor))
    }

    private static func gcd(_ a: Int128, _ b: Int128) -> Int128 {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return x == 0 ? 1 : x
    }

    /// n / d rounded to the nearest double, ties to even.
    private static func roundedQuotient(_ n: Int128, _ d: Int128) -> Double {
        guard n > 0 else { return 0 }
        // Shift n until the quotient carries more than 53 bits, then round the extra bits away
        // with the division's remainder as the sticky bit.
        var shift = 0
        while (n << shift) / d < (Int128(1) << 55), (n << shift) < (Int128(1) << 120) { shift += 1 }
        let scaled = n << shift
        var quotient = scaled / d
        let sticky = scaled % d != 0
        var extraBits = 0
        while quotient >> extraBits >= (Int128(1) << 53) { extraBits += 1 }
        if extraBits > 0 {
            let remainder = quotient & ((Int128(1) << extraBits) - 1), half = Int128(1) << (extraBits - 1)
            quotient >>= extraBits
            if remainder > half || (remainder == half && (sticky || quotient & 1 == 1)) { quotient += 1 }
        }
        return Double(quotient) * pow(2, Double(extraBits - shift))
    }
}

/// One clip's `(start, end)` in seconds, as `get_clip_timepoints` returns them.
public struct ClipTimepoint: Sendable, Equatable {
    public let start: ExactFraction
    public let end: ExactFraction
}

/// pytorchvideo's `ConstantClipsPerVideoSampler(clip_duration, clips_per_video)` driven the way
/// imagebind/data.py's `get_clip_timepoints` drives it: called until it says `is_last_clip`.
public struct ConstantClipsPerVideoSampler: Sendable {
    public let clipDuration: Int
    public let clipsPerVideo: Int
    public let rule: ClipSamplerRule

    public init(clipDuration: Int, clipsPerVideo: Int, rule: ClipSamplerRule = .pytorchvideo015) {
        precondition(clipDuration > 0 && clipsPerVideo > 0, "clip duration and clips per video must be positive")
        self.clipDuration = clipDuration
        self.clipsPerVideo = clipsPerVideo
        self.rule = rule
    }

    /// Every clip of a recording of `duration` seconds (the Python float data.py passes).
    public func clipTimepoints(duration: Double) -> [ClipTimepoint] {
        // `Fraction(max(video_duration - clip_duration, 0))`: a float subtraction, then exact.
        let latestStart = ExactFraction(exactly: max(duration - Double(clipDuration), 0))
        let spacing = rule == .pytorchvideo015 ? clipsPerVideo : max(clipsPerVideo - 1, 1)
        var clips: [ClipTimepoint] = []
        var index = 0
        while true {
            let start = latestStart.scaled(by: index, dividedBy: spacing)
            clips.append(ClipTimepoint(start: start, end: start + ExactFraction(Int128(clipDuration))))
            index += 1
            // `is_last_clip`: all clips taken, or the next start would pass the latest start.
            if index >= clipsPerVideo || latestStart < latestStart.scaled(by: index, dividedBy: spacing) { break }
        }
        return clips
    }
}
