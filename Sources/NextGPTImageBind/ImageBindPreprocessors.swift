import NextGPTCore
import NextGPTKernels
import NextGPTLayers

// `models/multimodal_preprocessors.py`: a stem turns one clip into patch tokens [L, D], then the
// CLS token goes first and the learned position embedding is added (never interpolated: inputs
// must have the size the embedding was trained for).

/// `RGBDTPreprocessor` for vision: `PadIm2Video(repeat, 2)` then `Conv3d(3, D, kernel, stride=kernel, bias=False)`.
/// With stride equal to the kernel the convolution is a product of non-overlapping patches, so it
/// runs as patch rows (c, kt, kh, kw) times the kernel as a [D, 3·kt·kh·kw] matrix.
public final class RGBDTPreprocessor: Sendable {
    public let clsToken: Tensor
    public let posEmbed: Tensor
    /// `rgbt_stem.proj.1.weight` as [D, 3·kt·kh·kw].
    public let stemKernel: Tensor
    public let kernelSize: [Int]
    let dim: Int

    init(_ w: Weights, config c: ImageBindConfig) throws {
        dim = c.visionEmbedDim
        kernelSize = c.kernelSize
        let k = c.kernelSize
        stemKernel = try w.pp("rgbt_stem").pp("proj").pp(1).tensor("weight", shape: [dim, 3] + k)
            .reshaped([dim, 3 * k[0] * k[1] * k[2]])
        clsToken = try w.tensor("cls_token", shape: [1, 1, dim]).reshaped([1, dim])
        posEmbed = try w.pp("pos_embedding_helper").tensor("pos_embed", shape: [1, -1, dim])
    }

    /// Tokens the position embedding has room for, CLS included.
    public var positions: Int { posEmbed.shape[1] }

    /// x [N, 3, H, W] images or [N, 3, T, H, W] clips → ([N·L, D], L).
    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) throws -> (tokens: Tensor, length: Int) {
        guard (x.rank == 4 || x.rank == 5) && x.shape[1] == 3 else {
            throw ImageBindModel.InputError.shape(.vision, x.shape, expected: "[N, 3, H, W] images or [N, 3, T, H, W] clips")
        }
        // Im2Video adds the time axis; PadIm2Video repeats a single frame twice.
        var video = x.rank == 4 ? x.reshaped([x.shape[0], 3, 1, x.shape[2], x.shape[3]]) : x
        if video.shape[2] == 1 { video = Self.repeatFrame(video, times: 2) }
        let (n, t, h, wd) = (video.shape[0], video.shape[2], video.shape[3], video.shape[4])
        let k = kernelSize
        let grid = [t / k[0], h / k[1], wd / k[2]]
        guard t % k[0] == 0, h % k[1] == 0, wd % k[2] == 0, grid.reduce(1, *) + 1 == positions else {
            throw ImageBindModel.InputError.shape(.vision, x.shape,
                expected: "frames × height × width that the \(k) patches cut into the \(positions - 1) positions of the embedding")
        }
        let patches = Shape.permute(video.reshaped([n, 3, grid[0], k[0], grid[1], k[1], grid[2], k[2]]), [0, 2, 4, 6, 1, 3, 5, 7],
                                    context: context)
        let rows = patches.reshaped([n * (positions - 1), stemKernel.shape[1]])
        let tokens = Linear.linear(rows, weight: stemKernel, bias: nil, context: context)
        return (withClassTokenAndPositions(tokens, clips: n, clsToken: clsToken, posEmbed: posEmbed, dim: dim), positions)
    }

    /// `x.repeat(1, 1, times, 1, 1)` on [N, C, 1, H, W].
    static func repeatFrame(_ x: Tensor, times: Int) -> Tensor {
        let (n, c, plane) = (x.shape[0], x.shape[1], x.shape[3] * x.shape[4])
        let values = x.values
        var out = [Float](); out.reserveCapacity(values.count * times)
        for image in 0..<(n * c) {
            let frame = values[(image * plane)..<((image + 1) * plane)]
            for _ in 0..<times { out.append(contentsOf: frame) }
        }
        return Tensor(shape: [n, c, times, x.shape[3], x.shape[4]], values: out)
    }
}

/// `AudioPreprocessor`: `Conv2d(1, D, audio_kernel_size, audio_stride, bias=False)` then the
/// stem's `LayerNorm(D)` (eps 1e-5) over the tokens.
public final class AudioPreprocessor: Sendable {
    public let clsToken: Tensor
    public let posEmbed: Tensor
    public let stemProj: Conv2d
    public let stemNorm: LayerNorm
    let dim: Int

    init(_ w: Weights, config c: ImageBindConfig) throws {
        dim = c.audioEmbedDim
        let stem = w.pp("rgbt_stem")
        stemProj = try stem.conv2d("proj", in: 1, out: dim, kernel: c.audioKernelSize, stride: c.audioStride, bias: false)
        stemNorm = try stem.layerNorm("norm_layer", dim: dim, eps: 1e-5)
        clsToken = try w.tensor("cls_token", shape: [1, 1, dim]).reshaped([1, dim])
        posEmbed = try w.pp("pos_embedding_helper").tensor("pos_embed", shape: [1, -1, dim])
    }

    public var positions: Int { posEmbed.shape[1] }

    /// x [N, 1, mel, frames] → ([N·L, D], L).
    func callAsFunction(_ x: Tensor, _ context: ExecutionContext) throws -> (tokens: Tensor, length: Int) {
        let k = stemProj.kernel[0], s = stemProj.stride[0]
        guard x.rank == 4, x.shape[1] == 1, x.shape[2] >= k, x.shape[3] >= k,
              ((x.shape[2] - k) / s + 1) * ((x.shape[3] - k) / s + 1) + 1 == positions else {
            throw ImageBindModel.InputError.shape(.audio, x.shape,
                expected: "[N, 1, mel, frames] whose \(k)×\(k)/\(s) patches fill the \(positions - 1) positions of the embedding")
        }
        let n = x.shape[0]
        let maps = stemProj(x, context)  // [N, D, h, w]
        // B C H W -> B (H W) C
        let tokens = Shape.permute(maps.reshaped([n, dim, positions - 1]), [0, 2, 1], context: context)
            .reshaped([n * (positions - 1), dim])
        return (withClassTokenAndPositions(stemNorm(tokens, context), clips: n, clsToken: clsToken, posEmbed: posEmbed, dim: dim),
                positions)
    }
}

/// [N·(L−1), D] patch tokens → [N·L, D]: each clip's CLS token first, then `pos_embed` added.
func withClassTokenAndPositions(_ tokens: Tensor, clips n: Int, clsToken: Tensor, posEmbed: Tensor, dim: Int) -> Tensor {
    let length = posEmbed.shape[1]
    let position = posEmbed.reshaped([length, dim])
    let perClip = Shape.split(tokens, splitSize: length - 1, dim: 0)
    return Shape.cat((0..<n).map { Elementwise.add(Shape.cat([clsToken, perClip[$0]], dim: 0), position) }, dim: 0)
}
