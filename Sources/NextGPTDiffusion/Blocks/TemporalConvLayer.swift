import Foundation
import NextGPTCore
import NextGPTKernels
import NextGPTLayers

/// diffusers `TemporalConvLayer` (models/resnet.py, from ModelScope's text-to-video UNet): the
/// frames of each video, folded into the batch by the spatial layers, are unfolded to
/// [N, C, F, H, W]; four times GroupNorm → SiLU → (Dropout) → a (3, 1, 1) convolution over the
/// frames (`conv1.2`, then `conv2.3` … `conv4.3`: the dropout takes index 2); plus the input.
/// The GroupNorm statistics span all frames of a video, as on the 5-D tensor in PyTorch.
public final class TemporalConvLayer: Sendable {
    struct Stage {
        let norm: GroupNorm
        let conv: Conv3d
    }

    let stages: [Stage]

    public init(_ w: Weights, inDim: Int, outDim: Int? = nil, groups: Int, eps: Float = 1e-5) throws {
        let out = outDim ?? inDim
        stages = try (1...4).map { i in
            let stage = w.pp("conv\(i)")
            let (from, to) = i == 1 ? (inDim, out) : (out, inDim)
            return Stage(norm: try stage.groupNorm("0", groups: groups, channels: from, eps: eps),
                         conv: try stage.conv3d(i == 1 ? "2" : "3", in: from, out: to, kernel: [3, 1, 1], padding: [1, 0, 0]))
        }
    }

    /// x [N·F, C, H, W] (frames of a video consecutive) → [N·F, C, H, W].
    public func callAsFunction(_ x: Tensor, numFrames: Int, _ context: ExecutionContext) -> Tensor {
        let video = VideoLayout(x, numFrames: numFrames)
        let identity = video.unfold(x, context)
        var hidden = identity
        for stage in stages {
            hidden = stage.norm(hidden, context)
            Activations.siluInPlace(&hidden, context: context)
            hidden = stage.conv(hidden, context)
        }
        Elementwise.addInPlace(&hidden, identity)
        return video.fold(hidden, context)
    }
}

/// How diffusers' video UNet moves between its two layouts: frames folded into the batch,
/// [N·F, C, H, W] (`sample.permute(0, 2, 1, 3, 4).reshape(N·F, C, H, W)`), and the video
/// tensor [N, C, F, H, W].
struct VideoLayout {
    let batch: Int
    let frames: Int
    let channels: Int
    let height: Int
    let width: Int

    init(_ folded: Tensor, numFrames: Int) {
        precondition(folded.rank == 4 && numFrames > 0 && folded.shape[0] % numFrames == 0,
                     "video layer: \(folded.shape) is not [N·\(numFrames), C, H, W]")
        (batch, frames) = (folded.shape[0] / numFrames, numFrames)
        (channels, height, width) = (folded.shape[1], folded.shape[2], folded.shape[3])
    }

    /// [N·F, C, H, W] → [N, C, F, H, W].
    func unfold(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        let c = x.count / (batch * frames * height * width)
        return Shape.permute(x.reshaped([batch, frames, c, height * width]), [0, 2, 1, 3], context: context)
            .reshaped([batch, c, frames, height, width])
    }

    /// [N, C, F, H, W] → [N·F, C, H, W].
    func fold(_ x: Tensor, _ context: ExecutionContext) -> Tensor {
        let c = x.shape[1]
        return Shape.permute(x.reshaped([batch, c, frames, height * width]), [0, 2, 1, 3], context: context)
            .reshaped([batch * frames, c, height, width])
    }
}
