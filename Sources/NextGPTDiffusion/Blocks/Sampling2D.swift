import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLayers

/// diffusers `Downsample2D` with `use_conv=True` (every SD-family checkpoint): a stride-2 3×3
/// convolution named `conv`. With `padding=0` (the VAE encoder) the input is first padded by
/// one zero row and column at the bottom and right, as `F.pad(x, (0, 1, 0, 1))`.
public final class Downsample2D: Sendable {
    let conv: Conv2d
    let padRightBottom: Bool

    public init(_ w: Weights, channels: Int, out: Int? = nil, padding: Int = 1) throws {
        conv = try w.conv2d("conv", in: channels, out: out ?? channels, kernel: 3, stride: 2, padding: padding)
        padRightBottom = padding == 0
    }

    public func callAsFunction(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        conv(padRightBottom ? Downsample2D.padBottomRight(x) : x, context)
    }

    /// `F.pad(x, (0, 1, 0, 1))` on [N, C, H, W].
    static func padBottomRight(_ x: Tensor) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        return Tensor(shape: [n, c, h + 1, w + 1]) { out in
            x.readPointer { src in
                let dst = out.baseAddress!
                dst.initialize(repeating: 0, count: out.count)
                for plane in 0..<(n * c) {
                    for y in 0..<h {
                        (dst + (plane * (h + 1) + y) * (w + 1)).update(from: src + (plane * h + y) * w, count: w)
                    }
                }
            }
        }
    }
}

/// diffusers `Upsample2D` with `use_conv=True`: nearest ×2 (or to `outputSize`, which the UNet
/// passes when a skip connection has an odd size), then a 3×3 convolution named `conv`.
public final class Upsample2D: Sendable {
    let conv: Conv2d

    public init(_ w: Weights, channels: Int, out: Int? = nil) throws {
        conv = try w.conv2d("conv", in: channels, out: out ?? channels, kernel: 3, padding: 1)
    }

    public func callAsFunction(_ x: Tensor, outputSize: [Int]? = nil, _ context: ExecutionContext) -> Tensor {
        if let outputSize, outputSize != [2 * x.shape[2], 2 * x.shape[3]] {
            return conv(Convolution.upsampleNearest2d(x, size: outputSize, context: context), context)
        }
        return conv.upsamplingNearest2x(x, context)
    }
}
