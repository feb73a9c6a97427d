import Foundation

/// Elementwise arithmetic on same-shape tensors (residual adds, gated MLPs). Plain loops over
/// contiguous f32: the optimizer vectorizes them, and they are a small share of any model's time.
public enum Elementwise {
    /// a + b.
    public static func add(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "add: \(a.shape) and \(b.shape)")
        var out = a
        out.withUnsafeMutableBufferPointer { o in
            b.withUnsafeBufferPointer { bb in for i in 0..<o.count { o[i] += bb[i] } }
        }
        return out
    }

    /// a += b, in a's storage (copied first only if shared).
    public static func addInPlace(_ a: inout Tensor, _ b: Tensor) {
        precondition(a.count == b.count, "add: \(a.shape) and \(b.shape)")
        a.withUnsafeMutableBufferPointer { o in
            b.withUnsafeBufferPointer { bb in for i in 0..<o.count { o[i] += bb[i] } }
        }
    }

    /// a += scale · b.
    public static func addScaled(_ a: inout Tensor, _ b: Tensor, scale: Float) {
        precondition(a.count == b.count, "addScaled: \(a.shape) and \(b.shape)")
        a.withUnsafeMutableBufferPointer { o in
            b.withUnsafeBufferPointer { bb in for i in 0..<o.count { o[i] += scale * bb[i] } }
        }
    }

    /// a · b.
    public static func mul(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "mul: \(a.shape) and \(b.shape)")
        var out = a
        out.withUnsafeMutableBufferPointer { o in
            b.withUnsafeBufferPointer { bb in for i in 0..<o.count { o[i] *= bb[i] } }
        }
        return out
    }

    /// x · scale.
    public static func scale(_ x: Tensor, by s: Float) -> Tensor {
        var out = x
        out.withUnsafeMutableBufferPointer { o in for i in 0..<o.count { o[i] *= s } }
        return out
    }
}
