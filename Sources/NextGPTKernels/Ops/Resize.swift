import CNextGPTKernels

/// `torch.nn.functional.interpolate(x, size: (height, width), mode: "bilinear", align_corners: false)`
/// on the CPU, to the bit: every leading dimension is a plane resized on its own (the kernel and
/// its tie-breaking are in nextgpt_resize.h).
public enum BilinearResize {
    /// x [..., H, W] (rank ≥ 2) → [..., height, width]. `scalar` runs the scalar twin (tests).
    public static func resize(_ x: Tensor, height: Int, width: Int, context: ExecutionContext, scalar: Bool = false) -> Tensor {
        precondition(x.rank >= 2 && height > 0 && width > 0, "bilinear resize of \(x.shape) to \(height)×\(width)")
        let inH = x.shape[x.rank - 2], inW = x.shape[x.rank - 1]
        let planes = x.count / max(inH * inW, 1)
        var out = Tensor(zeros: Array(x.shape.dropLast(2)) + [height, width])
        guard planes > 0, inH > 0, inW > 0 else { return out }
        out.withUnsafeMutableBufferPointer { o in
            let target = SendablePointer(o.baseAddress!)
            x.readPointer { source in
                let input = SendablePointer(UnsafeMutablePointer(mutating: source))
                OpParallel.forEach(planes, costPerItem: (inH + height) * width * 4, context: context) { range in
                    var scratch = [Float](repeating: 0, count: inH * width)
                    scratch.withUnsafeMutableBufferPointer { s in
                        for p in range {
                            let from = input.base + p * inH * inW, to = target.base + p * height * width
                            if scalar {
                                ngk_resize_bilinear_plane_ref(from, inH, inW, to, height, width, s.baseAddress!)
                            } else {
                                ngk_resize_bilinear_plane(from, inH, inW, to, height, width, s.baseAddress!)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
