import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLayers

/// diffusers `ResnetBlock2D` (models/resnet.py): GroupNorm → SiLU → conv1 (+ time embedding) →
/// GroupNorm → SiLU → conv2, plus the (1×1-convolved when the width changes) input, divided by
/// `output_scale_factor`. The VAE's blocks have no time embedding (`temb_channels=None`).
public final class ResnetBlock2D: Sendable {
    public enum TimeEmbeddingNorm: String, Sendable {
        /// `hidden + temb` before norm2.
        case `default`
        /// norm2, then `hidden · (1 + scale) + shift` with temb split in two.
        case scaleShift = "scale_shift"
    }

    let norm1: GroupNorm
    let conv1: Conv2d
    let timeEmbProj: LinearLayer?
    let norm2: GroupNorm
    let conv2: Conv2d
    let convShortcut: Conv2d?
    let timeEmbeddingNorm: TimeEmbeddingNorm
    let outputScaleFactor: Float
    public let outChannels: Int

    public init(_ w: Weights, in inChannels: Int, out outChannels: Int?, tembChannels: Int?,
                groups: Int, groupsOut: Int? = nil, eps: Float, timeEmbeddingNorm: TimeEmbeddingNorm = .default,
                outputScaleFactor: Float = 1) throws {
        let out = outChannels ?? inChannels
        self.outChannels = out
        self.timeEmbeddingNorm = timeEmbeddingNorm
        self.outputScaleFactor = outputScaleFactor
        norm1 = try w.groupNorm("norm1", groups: groups, channels: inChannels, eps: eps)
        conv1 = try w.conv2d("conv1", in: inChannels, out: out, kernel: 3, padding: 1)
        if let tembChannels {
            let projected = timeEmbeddingNorm == .scaleShift ? 2 * out : out
            timeEmbProj = try w.linear("time_emb_proj", out: projected, in: tembChannels, bias: true)
        } else {
            timeEmbProj = nil
        }
        norm2 = try w.groupNorm("norm2", groups: groupsOut ?? groups, channels: out, eps: eps)
        conv2 = try w.conv2d("conv2", in: out, out: out, kernel: 3, padding: 1)
        convShortcut = inChannels != out || w.contains("conv_shortcut.weight")
            ? try w.conv2d("conv_shortcut", in: inChannels, out: out, kernel: 1) : nil
    }

    /// x [N, C, H, W]; temb [N, temb_channels] or nil.
    public func callAsFunction(_ input: consuming Tensor, temb: Tensor?, _ context: ExecutionContext) -> Tensor {
        // Activations are updated in place where PyTorch makes new tensors, so a 512² VAE block
        // holds about three activation-sized buffers at a time. With a shortcut convolution the
        // residual is made first: the input is then needed no more, and norm1 takes its storage
        // when the caller gave it up (the first block of a 512² VAE's last stage: 268 MB).
        let residual: Tensor
        if let convShortcut { residual = convShortcut(input, context) } else { residual = copy input }
        var hidden = consume input
        norm1.normalize(&hidden, context)
        Activations.siluInPlace(&hidden, context: context)
        hidden = conv1(hidden, context)
        let projected = timeEmbProj.flatMap { proj in temb.map { proj(Activations.silu($0, context: context), context) } }
        switch timeEmbeddingNorm {
        case .default:
            if let projected { hidden = ChannelAffine.add(hidden, perChannel: projected) }
            hidden = norm2(hidden, context)
        case .scaleShift:
            hidden = norm2(hidden, context)
            if let projected {
                let halves = Shape.chunk(projected, 2, dim: 1)
                hidden = ChannelAffine.scaleShift(hidden, scale: halves[0], shift: halves[1])
            }
        }
        Activations.siluInPlace(&hidden, context: context)
        hidden = conv2(hidden, context)
        Elementwise.addInPlace(&hidden, residual)
        if outputScaleFactor != 1 { hidden = Elementwise.scale(hidden, by: 1 / outputScaleFactor) }
        return hidden
    }
}

/// Per-(sample, channel) broadcasts over the spatial positions of [N, C, *] tensors.
public enum ChannelAffine {
    /// x + v[:, :, None, None] for v [N, C].
    public static func add(_ x: Tensor, perChannel v: Tensor) -> Tensor {
        scaleShift(x, scale: nil, shift: v)
    }

    /// x · (1 + scale[:, :, None, None]) + shift[:, :, None, None] for scale, shift [N, C].
    public static func scaleShift(_ x: Tensor, scale: Tensor?, shift: Tensor) -> Tensor {
        let n = x.shape[0], c = x.shape[1], s = x.count / max(n * c, 1)
        precondition(shift.count == n * c && (scale?.count ?? n * c) == n * c, "channel affine: \(x.shape) with \(shift.shape)")
        var out = x
        let shifts = shift.values, scales = scale?.values
        out.withUnsafeMutableBufferPointer { o in
            for plane in 0..<(n * c) {
                let factor = 1 + (scales?[plane] ?? 0), offset = shifts[plane]
                let base = plane * s
                for i in base..<(base + s) { o[i] = o[i] * factor + offset }
            }
        }
        return out
    }
}
