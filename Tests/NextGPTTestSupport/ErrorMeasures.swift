import NextGPTKernels

/// ‖a − b‖ / ‖b‖, accumulated in double precision: the error measure of every twin and reference
/// test. It is ‖a − b‖ when `b` is all zeros, and infinity when the counts differ (so a tolerance
/// check fails instead of the test process trapping).
public func relativeL2(_ a: [Float], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    var difference = 0.0, norm = 0.0
    for i in a.indices {
        let d = Double(a[i]) - b[i]
        difference += d * d
        norm += b[i] * b[i]
    }
    return norm == 0 ? difference.squareRoot() : (difference / norm).squareRoot()
}

/// ‖a − b‖ / ‖b‖ of two float arrays, accumulated in double precision (see the `[Double]` form).
public func relativeL2(_ a: [Float], _ b: [Float]) -> Double { relativeL2(a, b.map { Double($0) }) }

/// ‖a − b‖ / ‖b‖ of two tensors' values; infinity when their shapes differ.
public func relativeL2(_ a: Tensor, _ b: Tensor) -> Double {
    a.shape == b.shape ? relativeL2(a.values, b.values) : .infinity
}
