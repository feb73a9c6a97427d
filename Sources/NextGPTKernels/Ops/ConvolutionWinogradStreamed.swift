import CNextGPTKernels
import Foundation

extension Convolution {
    /// Whether `winogradConv3x3(_:streaming:bias:context:)` takes an N×C×H×W input for a 3×3,
    /// stride-1, padding-1 kernel: the transformed tiles of every sample are held at once (so the
    /// kernel is transformed once per call), up to 8 × `context.convolutionColumnBudget` floats
    /// (64 MB: SD's 2×1920×32² input, whose per-call transform made a 177 MB kernel and took
    /// 199 ms of a 512² step), and there must be enough of them
    /// (`context.winogradMinimumTilesStreamed`, counted over the batch) for the products to pay
    /// for transforming the kernel.
    package static func streamsWinogradKernel(channels: Int, outChannels: Int, kernel: [Int], stride: [Int], padding: [Int],
                                              batch: Int, height: Int, width: Int, context: ExecutionContext) -> Bool {
        let tiles = batch * ((height + 3) / 4) * ((width + 3) / 4)
        return context.winogradEnabled && kernel == [3, 3] && stride == [1, 1] && padding == [1, 1]
            && channels >= winogradMinimumChannels && tiles >= context.winogradMinimumTilesStreamed
            && 36 * max(channels, outChannels) * tiles <= 8 * context.convolutionColumnBudget
    }

    /// `F.conv2d(x, weight, bias, stride=1, padding=1)` by Winograd F(4×4, 3×3) on a kernel kept
    /// in its stored bytes (`matrix` [O, C·9], any type the matrix product takes), for kernels too
    /// large to keep transformed (SD's 1280-channel convolutions: 236 MB each). Every tile of
    /// every sample is transformed once; then each participant dequantizes a block of output
    /// channels, transforms it into scratch it reuses (with few tiles, a slice of input channels at
    /// a time, so the slice is still in L2 when its products read it), runs that block's 36
    /// products over all tiles and writes its output planes. Nothing of the kernel's size is
    /// allocated, and no thread waits for another between blocks.
    public static func winogradConv3x3(_ x: Tensor, streaming matrix: WeightMatrix, bias: Tensor?, context: ExecutionContext) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(x.rank == 4 && matrix.columns == c * 9,
                     "winogradConv3x3: input \(x.shape), kernel matrix [\(matrix.rows), \(matrix.columns)]")
        let o = matrix.rows
        if let bias { precondition(bias.count == o, "conv2d: bias \(bias.shape) for \(o) outputs") }
        let perImage = ((h + 3) / 4) * ((w + 3) / 4), tiles = n * perImage
        let tilePlane = ngk_winograd43_plane(c, tiles)
        // Scratch from the loop's activation arena: mapped on the first pass only.
        return Tensor.withScratch(36 * tilePlane) { v in
            let transformed = SendablePointer(v)
            x.readPointer { src in
                let input = SendablePointer(UnsafeMutablePointer(mutating: src))
                OpParallel.forEach(c, costPerItem: tiles * 400, context: context) { range in
                    for sample in 0..<n {
                        ngk_winograd43_input(input.base + sample * c * h * w, h, w, range.lowerBound, range.upperBound, c,
                                             0, perImage, transformed.base + sample * perImage, tiles)
                    }
                }
            }
            // Fewer tiles than one 16-wide column tile of `ngs_sgemm_nn`: the products run as dot
            // products along the channels, on the tiles transposed (each tile's channels contiguous).
            let dots = tiles < 16
            let vt = dots ? UnsafeMutablePointer<Float>.allocate(capacity: 36 * tiles * c) : nil
            defer { vt?.deallocate() }
            if let vt {
                let target = SendablePointer(vt)
                OpParallel.forEach(36, costPerItem: tiles * c, context: context) { range in
                    for k in range {
                        for t in 0..<tiles {
                            for ch in 0..<c { target.base[(k * tiles + t) * c + ch] = transformed.base[k * tilePlane + ch * tiles + t] }
                        }
                    }
                }
            }
            // The kernel is transformed a slice of 128 input channels at a time, which the products read
            // back before the next slice is made, while it is still in cache. With few tiles each transformed weight takes part
            // in too few products to be worth a trip to memory and back (8 tiles: 2 FLOP per byte
            // moved): blocks of 12 output channels (36 × 12 × 128 floats, 221 KB) for the dot
            // products; 1280² kernels at 8 tiles ran 1.25–1.4× faster than with 16 × 64, whose dots
            // were too short. From 16 tiles, blocks of about 64 output channels (1.2 MB a slice, each
            // product's part 32 KB), as many per participant: against whole-width blocks of ~1 M floats
            // (4 MB, past L2 and a share of L3) and 16 output channels, whose many blocks each read all
            // the transformed tiles again, SD's 2×1280×32² ran 161–174 → 117–123 ms,
            // 2×2560×16² 80 → 67–71, 2×1280×16² 35 → 31–34 (Zen 3, 2 threads, `winogradq8`).
            let perParticipant = ((o + 63) / 64 + context.threads - 1) / context.threads
            let block = dots ? min(o, 12) : (o + perParticipant * context.threads - 1) / (perParticipant * context.threads)
            let blocks = (o + block - 1) / block
            let slice = min(c, 128)
            let kernelPlane = WinogradKernel.planeStride(outChannels: block, inChannels: slice)
            let biasValues = bias?.values
            return Tensor(shape: [n, o, h, w]) { out in
                let y = SendablePointer(out.baseAddress!)
                let transposed = vt.map { SendablePointer($0) }
                biasValues.withOptionalBaseAddress { biasPointer in
                    let shift = biasPointer.map { SendablePointer(UnsafeMutablePointer(mutating: $0)) }
                    context.pool.parallelFor(blocks) { range in
                        let rows = UnsafeMutablePointer<Float>.allocate(capacity: block * c * 9)
                        let u = UnsafeMutablePointer<Float>.allocate(capacity: 36 * kernelPlane)
                        let m = UnsafeMutablePointer<Float>.allocate(capacity: 36 * ngk_winograd43_plane(block, tiles))
                        defer { rows.deallocate(); u.deallocate(); m.deallocate() }
                        for b in range {
                            let r0 = b * block
                            streamedBlock(r0, count: min(block, o - r0), of: matrix, slice: slice, samples: n, perImage: perImage,
                                          height: h, width: w, transformed: transformed.base, tilePlane: tilePlane,
                                          transposed: transposed?.base, rows: rows, u: u, kernelPlane: kernelPlane, m: m,
                                          bias: shift.map { $0.base + r0 }, into: y.base + r0 * h * w, outChannels: o)
                        }
                    }
                }
            }
        }
    }

    /// Output channels [r0, r0 + count) of `winogradConv3x3(_:streaming:bias:context:)`: their
    /// kernel rows dequantized into `rows`, transformed a slice of input channels at a time into
    /// `u`, the 36 products of each slice accumulated into `m` (dot products on the `transposed`
    /// tiles when given, else the register-tiled product on the `transformed` ones), and their
    /// output planes written for every sample (y and bias at the block's first channel).
    private static func streamedBlock(_ r0: Int, count: Int, of matrix: WeightMatrix, slice: Int, samples n: Int, perImage: Int,
                                      height h: Int, width w: Int, transformed: UnsafeMutablePointer<Float>, tilePlane: Int,
                                      transposed: UnsafeMutablePointer<Float>?, rows: UnsafeMutablePointer<Float>,
                                      u: UnsafeMutablePointer<Float>, kernelPlane: Int, m: UnsafeMutablePointer<Float>,
                                      bias: UnsafeMutablePointer<Float>?, into y: UnsafeMutablePointer<Float>, outChannels o: Int) {
        let c = matrix.columns / 9, tiles = n * perImage
        let productPlane = ngk_winograd43_plane(count, tiles)
        Matmul.dequantizeRows(matrix, row: r0, count: count, into: rows)
        for c0 in stride(from: 0, to: c, by: slice) {
            let width = min(slice, c - c0)
            ngk_winograd43_weight_rows(rows + c0 * 9, c * 9, count, width, u, kernelPlane, slice)
            for k in 0..<36 {
                if let transposed {
                    ngs_sgemm_nt_dots(count, tiles, width, u + k * kernelPlane, slice, transposed + k * tiles * c + c0, c,
                                      c0 > 0 ? 1 : 0, m + k * productPlane, tiles)
                } else {
                    ngs_sgemm_nn(count, tiles, width, 1, u + k * kernelPlane, slice, transformed + k * tilePlane + c0 * tiles,
                                 tiles, c0 > 0 ? 1 : 0, m + k * productPlane, tiles)
                }
            }
        }
        for sample in 0..<n {
            ngk_winograd43_output(m + sample * perImage, tiles, 0, count, count, 0, perImage, h, w, bias, y + sample * o * h * w)
        }
    }
}
