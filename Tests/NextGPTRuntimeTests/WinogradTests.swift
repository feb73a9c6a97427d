import CNextGPTKernels
import NextGPTKernels
import NextGPTTestSupport
import XCTest

/// Winograd F(4×4, 3×3) against the im2col + sgemm convolution (itself checked against PyTorch by
/// the op bundle), on sizes that leave partial tiles and chunk the tile loop.
final class WinogradTests: XCTestCase {
    func testMatchesIm2colConvolution() {
        let budget = ExecutionContext.default.convolutionColumnBudget
        for (n, c, o, h, w, smallBudget) in [(1, 16, 8, 48, 48, false), (2, 24, 20, 45, 47, false), (2, 32, 16, 45, 51, true), (1, 16, 32, 64, 33, false)] {
            let x = lcgThousandths([n, c, h, w], state: UInt64(c * h)), weight = lcgThousandths([o, c, 3, 3], state: UInt64(o + w))
            let bias = lcgThousandths([o], state: 5)
            var context = ExecutionContext.default
            context.convolutionColumnBudget = smallBudget ? 36 * 32 * 10 / 4 : budget
            context.winogradEnabled = true
            XCTAssertTrue(Convolution.useWinograd(channels: c, kernel: [3, 3], stride: [1, 1], padding: [1, 1], height: h, width: w,
                                                  context: context))
            let fast = Convolution.conv2d(x, weight: weight, bias: bias, padding: [1, 1], context: context)
            context.winogradEnabled = false
            let direct = Convolution.conv2d(x, weight: weight, bias: bias, padding: [1, 1], context: context)
            XCTAssertEqual(fast.shape, direct.shape)
            let rel = relativeL2(fast, direct)
            XCTAssertLessThan(rel, 2e-6, "\(n)×\(c)×\(h)×\(w) → \(o): rel L2 \(rel)")
        }
    }

    /// Quantized kernels take Winograd from 32×32 planes (64 tiles) at the AVX2 level, where the
    /// integer kernels have no VNNI; f32 kernels, and quantized ones at other levels, from 128 tiles.
    func testQuantizedKernelsTakeWinogradEarlierAtTheAVX2Level() {
        func winograd(_ side: Int, quantized: Bool, level: KernelLevel) -> Bool {
            var context = ExecutionContext.default
            context.kernelLevel = level
            return Convolution.useWinograd(channels: 320, kernel: [3, 3], stride: [1, 1], padding: [1, 1], height: side, width: side,
                                           quantizedKernel: quantized, context: context)
        }
        XCTAssertTrue(winograd(64, quantized: false, level: .scalar))
        XCTAssertFalse(winograd(32, quantized: false, level: .scalar))
        XCTAssertFalse(winograd(32, quantized: true, level: .scalar))
        guard KernelLevel.available(upTo: .avx2) == .avx2 else { return }
        XCTAssertTrue(winograd(32, quantized: true, level: .avx2))
        XCTAssertFalse(winograd(28, quantized: true, level: .avx2))
        XCTAssertFalse(winograd(32, quantized: false, level: .avx2))
        if KernelLevel.machine == .avx512VNNI { XCTAssertFalse(winograd(32, quantized: true, level: .avx512VNNI)) }
    }

    /// A kernel transformed once gives what the per-call transform gives (and im2col, within
    /// rounding); the cache keeps it per owner within its budget and refuses, without
    /// transforming, what would not fit.
    func testKeptKernelsMatchAndStayWithinBudget() {
        let (n, c, o, h, w) = (2, 24, 20, 13, 17)
        let x = lcgThousandths([n, c, h, w], state: 7), weight = lcgThousandths([o, c, 3, 3], state: 8), bias = lcgThousandths([o], state: 9)
        var context = ExecutionContext.default
        context.winogradEnabled = false
        let direct = Convolution.conv2d(x, weight: weight, bias: bias, padding: [1, 1], context: context)
        let perCall = Convolution.winogradConv3x3(x, weight: weight, bias: bias, context: context)
        let bytes = WinogradKernel.byteCount(outChannels: o, inChannels: c)
        XCTAssertEqual(bytes, 36 * (o * c + 16) * 4)
        let cache = WinogradKernelCache(budgetBytes: 8 * bytes)
        XCTAssertEqual(cache.largestKernelBytes, bytes)
        let owner = WinogradOwner(), other = WinogradOwner()
        guard let kept = cache.kernel(for: owner, byteCount: bytes, make: { WinogradKernel(weight, context: context) }) else {
            return XCTFail("a kernel of \(bytes) bytes should fit a budget of \(cache.budgetBytes)")
        }
        XCTAssertEqual(kept.byteCount, bytes)
        XCTAssertEqual(cache.byteCount, bytes)
        let again = cache.kernel(for: owner, byteCount: bytes, make: { XCTFail("kept kernel transformed again"); return kept })
        XCTAssertTrue(again === kept)
        let fromKept = Convolution.winogradConv3x3(x, kernel: kept, bias: bias, context: context)
        XCTAssertEqual(fromKept.values, perCall.values)
        XCTAssertLessThan(relativeL2(fromKept, direct), 2e-6)
        XCTAssertNil(cache.kernel(for: other, byteCount: bytes + 4, make: { XCTFail("too large a kernel transformed"); return kept }))
        for _ in 0..<7 { XCTAssertNotNil(cache.kernel(for: WinogradOwner(), byteCount: bytes, make: { WinogradKernel(weight, context: context) })) }
        XCTAssertEqual(cache.byteCount, 8 * bytes)
        XCTAssertNil(cache.kernel(for: other, byteCount: bytes, make: { XCTFail("kernel past the budget transformed"); return kept }))
        // A kernel kept for a loop is made outside the loop's activation arena, whose blocks it would hold.
        var inArena = context
        inArena.activationArenaMinimumBytes = 1 << 10
        inArena.withActivationArena("loop") {
            let roomy = WinogradKernelCache(budgetBytes: 8 * bytes)
            XCTAssertNotNil(roomy.kernel(for: owner, byteCount: bytes, make: { WinogradKernel(weight, context: inArena) }))
            XCTAssertEqual(ActivationArena.current!.statistics.mapped, 0, "the kept kernel took an arena block")
        }
        XCTAssertNil(context.winogradKernels)
        context.winogradKernelBudget = 0
        XCTAssertNil(context.keepingWinogradKernels().winogradKernels)
        context.winogradKernelBudget = 1 << 20
        XCTAssertEqual(context.keepingWinogradKernels().winogradKernels?.budgetBytes, 1 << 20)
    }

    /// Chunks of the tile loop are equal and whole 16-column tiles of the products, within the
    /// budget's 16 tiles: SD's 64² convolutions at 512² (512 tiles) and the VAE's last planes.
    func testChunksAreEqualInWholeColumnTiles() {
        let context = ExecutionContext.default
        XCTAssertEqual(context.convolutionColumnBudget, 1 << 21)
        func chunk(_ tiles: Int, _ c: Int, _ o: Int) -> Int {
            Convolution.winogradChunk(tiles: tiles, channels: c, outChannels: o, context: context)
        }
        XCTAssertEqual(chunk(512, 960, 320), 176, "242 + 242 + 28 before")
        XCTAssertEqual(chunk(512, 640, 320), 256, "364 + 148 before")
        XCTAssertEqual(chunk(512, 320, 320), 512, "all tiles fit")
        XCTAssertEqual(chunk(16384, 128, 128), 1648, "1820 × 9 + 4 before")
        XCTAssertEqual(chunk(40, 2_000_000, 8), 8, "below a column tile: the budget as it was")
        var small = context
        small.convolutionColumnBudget = 36 * 32 * 10 / 4
        XCTAssertEqual(Convolution.winogradChunk(tiles: 40, channels: 32, outChannels: 20, context: small), 10)
    }

    /// The transformed tiles and products of a call come from the loop's activation arena: the
    /// first call maps them beside the output (they were fresh heap or mappings every call), the
    /// passes after the plan map nothing, and a poisoned arena changes no value.
    func testScratchOfACallComesFromTheArena() {
        let (n, c, o, h, w) = (2, 32, 20, 13, 17)
        let x = lcgThousandths([n, c, h, w], state: 17), weight = lcgThousandths([o, c, 3, 3], state: 18)
        let bias = lcgThousandths([o], state: 19)
        var context = ExecutionContext.default
        context.convolutionColumnBudget = 36 * 32 * 10 / 4  // chunks of 10 of the 40 tiles
        let kernel = WinogradKernel(weight, context: context)
        var bytes = [UInt8](repeating: 0, count: o * c * 9 / 32 * 34)
        for block in 0..<(bytes.count / 34) {
            let scale = ngk_fp32_to_fp16(0.004)
            bytes[block * 34] = UInt8(scale & 0xff)
            bytes[block * 34 + 1] = UInt8(scale >> 8)
            for i in 0..<32 { bytes[block * 34 + 2 + i] = UInt8(truncatingIfNeeded: (block * 37 + i * 11) % 255) }
        }
        bytes.withUnsafeBytes { raw in
            let matrix = WeightMatrix(type: .q8_0, rows: o, columns: c * 9, data: raw.baseAddress!)
            let expected = (Convolution.winogradConv3x3(x, kernel: kernel, bias: bias, context: context).values,
                            Convolution.winogradConv3x3(x, streaming: matrix, bias: bias, context: context).values)
            for poison in [false, true] {
                var inArena = context
                inArena.activationArenaMinimumBytes = 1 << 10
                inArena.poisonsActivations = poison
                inArena.withActivationArena("loop", repeatingPasses: true) {
                    let arena = ActivationArena.current!
                    var kept = Convolution.winogradConv3x3(x, kernel: kernel, bias: bias, context: inArena)
                    XCTAssertEqual([arena.statistics.mapped, arena.statistics.scratchMapped], [1, 2],
                                   "the output; transformed tiles and products (poison \(poison))")
                    XCTAssertEqual(kept.values, expected.0)
                    kept = Tensor(zeros: [1])
                    var streamed = Convolution.winogradConv3x3(x, streaming: matrix, bias: bias, context: inArena)
                    XCTAssertEqual(arena.statistics.scratchMapped, 3, "the streamed call's tiles (187 KB): larger than both scratch blocks")
                    XCTAssertEqual(streamed.values, expected.1)
                    streamed = Tensor(zeros: [1])
                    // The first pass's own peak bounded what it kept; from the second pass on, the
                    // plan and the scratch blocks hold every block.
                    var mapped = [Int]()
                    for pass in 0..<3 {
                        XCTAssertEqual(Convolution.winogradConv3x3(x, kernel: kernel, bias: bias, context: inArena).values, expected.0)
                        XCTAssertEqual(Convolution.winogradConv3x3(x, streaming: matrix, bias: bias, context: inArena).values, expected.1)
                        if pass == 0 { mapped = [arena.statistics.mapped, arena.statistics.scratchMapped] }
                    }
                    XCTAssertEqual([arena.statistics.mapped, arena.statistics.scratchMapped], mapped, "a repeated pass mapped again")
                    XCTAssertEqual(arena.statistics.exactPlanBytes, 9 * 4096, "scratch counted in the activations' plan")
                    withExtendedLifetime((kept, streamed)) {}
                }
            }
        }
    }

    /// A loop keeps a call's kernel from 4 tiles per sample up to 512 over the batch: SD's 64² planes
    /// with guidance (512 tiles) are kept, ZeroScope's 40×72 and 20×36 ones at 8 frames (2880, 720)
    /// transform per call, as do 1×1-tile planes.
    func testKeptKernelsAreForCallsOfFewTiles() {
        let context = ExecutionContext.default
        XCTAssertTrue(Convolution.keepsWinogradKernel(batch: 2, height: 64, width: 64, context: context))
        XCTAssertTrue(Convolution.keepsWinogradKernel(batch: 2, height: 8, width: 8, context: context))
        XCTAssertTrue(Convolution.keepsWinogradKernel(batch: 16, height: 5, width: 9, context: context))
        XCTAssertFalse(Convolution.keepsWinogradKernel(batch: 16, height: 20, width: 36, context: context))
        XCTAssertFalse(Convolution.keepsWinogradKernel(batch: 16, height: 40, width: 72, context: context))
        XCTAssertFalse(Convolution.keepsWinogradKernel(batch: 2, height: 4, width: 4, context: context))
        var roomy = context
        roomy.winogradMaximumTilesKept = .max
        XCTAssertTrue(Convolution.keepsWinogradKernel(batch: 16, height: 40, width: 72, context: roomy))
    }

    /// The kernel transform of a block of rows, 8 input channels at a time (a partial group at
    /// the end), against its per-pair twin and the whole-kernel transform's layout.
    func testKernelRowTransformMatchesScalarTwins() {
        let (o, c) = (5, 19)
        let w = lcgThousandths([o, c, 3, 3], state: 11).values
        var whole = [Float](repeating: 0, count: 36 * o * c)
        ngk_winograd43_weights(w, o, c, 0, o * c, &whole)
        var fast = [Float](repeating: 0, count: 36 * o * c), twin = fast
        ngk_winograd43_weight_rows(w, c * 9, o, c, &fast, o * c, c)
        ngk_winograd43_weight_rows_ref(w, c * 9, o, c, &twin, o * c, c)
        for i in whole.indices {
            XCTAssertEqual(fast[i], twin[i], accuracy: 1e-6 * max(1, abs(twin[i])))
            XCTAssertEqual(twin[i], whole[i], accuracy: 1e-6 * max(1, abs(whole[i])))
        }
        XCTAssertGreaterThan(whole.filter { $0 != 0 }.count, whole.count * 9 / 10)
        // Rows 2..<4 into a block of their own: ld_k = 2·C.
        var block = [Float](repeating: 0, count: 36 * 2 * c)
        w.withUnsafeBufferPointer { ngk_winograd43_weight_rows($0.baseAddress! + 2 * c * 9, c * 9, 2, c, &block, 2 * c, c) }
        for k in 0..<36 {
            for r in 0..<2 { for i in 0..<c { XCTAssertEqual(block[k * 2 * c + r * c + i], fast[k * o * c + (2 + r) * c + i]) } }
        }
        // Input channels 8..<19 of rows 1..<4 (a slice: rows stay 9·C apart): ld_r = 11.
        var slice = [Float](repeating: 0, count: 36 * 3 * 11)
        w.withUnsafeBufferPointer { ngk_winograd43_weight_rows($0.baseAddress! + (c + 8) * 9, c * 9, 3, 11, &slice, 3 * 11, 11) }
        for k in 0..<36 {
            for r in 0..<3 { for i in 0..<11 { XCTAssertEqual(slice[k * 33 + r * 11 + i], fast[k * o * c + (1 + r) * c + 8 + i]) } }
        }
    }

    /// A Q8_0 kernel transformed a block of output channels at a time per call, row-major and
    /// repacked, with a last block shorter than the others, against im2col on its f32 values, on
    /// enough tiles for the register-tiled products and on few (the dot products over input-channel
    /// slices); and the whole transform from the stored matrix against the one from the widened tensor.
    func testStreamedKernelMatchesIm2col() {
        var rng = Xorshift64(seed: 21)
        var context = ExecutionContext.default
        context.convolutionColumnBudget = 1 << 16
        /// A random Q8_0 kernel [o, c·9] streamed, row-major and repacked, against im2col on its
        /// dequantized values; `body` gets each stored form and the dequantized kernel.
        func checkStreamed(_ x: Tensor, outChannels o: Int, label: String,
                           _ body: (WeightMatrix, Tensor, Tensor) -> Void = { _, _, _ in }) {
            let c = x.shape[1]
            var bytes = [UInt8](repeating: 0, count: o * c * 9 / 32 * 34)
            for block in 0..<(bytes.count / 34) {
                let scale = ngk_fp32_to_fp16(0.002 + rng.triangular(0.01))
                bytes[block * 34] = UInt8(scale & 0xff)
                bytes[block * 34 + 1] = UInt8(scale >> 8)
                for i in 0..<32 { bytes[block * 34 + 2 + i] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            let bias = lcgThousandths([o], state: UInt64(o))
            bytes.withUnsafeBytes { raw in
                let matrix = WeightMatrix(type: .q8_0, rows: o, columns: c * 9, data: raw.baseAddress!)
                let weight = Tensor(shape: [o, c, 3, 3]) { Matmul.dequantized(matrix, into: $0.baseAddress!, context: context) }
                context.winogradEnabled = false
                let direct = Convolution.conv2d(x, weight: weight, bias: bias, padding: [1, 1], context: context)
                context.winogradEnabled = true
                for stored in [matrix, matrix.repacked(context: context)] {
                    let streamed = Convolution.winogradConv3x3(x, streaming: stored, bias: bias, context: context)
                    XCTAssertEqual(streamed.shape, direct.shape)
                    // Winograd F(4×4, 3×3) rounds more than im2col in f32: 2.0e-6 at 160 channels.
                    XCTAssertLessThan(relativeL2(streamed, direct), 4e-6, "\(label), \(stored.layout)")
                    body(stored, weight, bias)
                }
            }
        }
        // 24 tiles (the register-tiled products): input channels in two slices (128 + 32), output
        // channels in one block per participant, the last one shorter (41 = 21 + 20 on 2 threads).
        let x = lcgThousandths([2, 160, 9, 14], state: 12)
        checkStreamed(x, outChannels: 41, label: "24 tiles") { stored, weight, bias in
            let fromMatrix = WinogradKernel(matrix: stored, context: context), fromTensor = WinogradKernel(weight, context: context)
            let a = Convolution.winogradConv3x3(x, kernel: fromMatrix, bias: bias, context: context)
            let b = Convolution.winogradConv3x3(x, kernel: fromTensor, bias: bias, context: context)
            XCTAssertEqual(a.values, b.values, "\(stored.layout)")
        }
        // 4 tiles (the dot products): input channels in two slices (128 + 32), output channels in
        // two blocks (12 + 2).
        checkStreamed(lcgThousandths([1, 160, 7, 6], state: 14), outChannels: 14, label: "4 tiles")
        func streams(_ batch: Int, _ side: Int, channels: Int = 1280) -> Bool {
            Convolution.streamsWinogradKernel(channels: channels, outChannels: 1280, kernel: [3, 3], stride: [1, 1], padding: [1, 1],
                                              batch: batch, height: side, width: side, context: .default)
        }
        XCTAssertTrue(streams(2, 16))
        XCTAssertTrue(streams(1, 16))
        XCTAssertTrue(streams(2, 8))
        XCTAssertFalse(streams(1, 8))
        XCTAssertTrue(streams(2, 32, channels: 1920), "SD's up_blocks.2 conv1 at 512²: 35 MB of tiles")
        XCTAssertFalse(streams(2, 64), "the tiles of a 64² batch of 1280 channels are 94 MB")
        XCTAssertFalse(streams(2, 16, channels: 8))
    }

    /// The 8-lane transforms against their one-tile scalar twins, on a plane with partial tiles
    /// and a tile range that starts and ends mid-row.
    func testTransformsMatchScalarTwins() {
        let (c, h, w) = (3, 19, 23)
        let tilesWide = (w + 3) / 4, tiles = ((h + 3) / 4) * tilesWide
        let x = lcgThousandths([c, h, w], state: 3).values
        let (first, count) = (5, tiles - 7)
        var fast = [Float](repeating: 0, count: 36 * ngk_winograd43_plane(c, count)), twin = fast
        ngk_winograd43_input(x, h, w, 0, c, c, first, count, &fast, count)
        ngk_winograd43_input_ref(x, h, w, 0, c, c, first, count, &twin, count)
        for (a, b) in zip(fast, twin) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b))) }
        let products = lcgThousandths([36, ngk_winograd43_plane(c, count)], state: 4).values, bias: [Float] = [0.5, -1, 2]
        var outFast = [Float](repeating: 0, count: c * h * w), outTwin = outFast
        ngk_winograd43_output(products, count, 0, c, c, first, count, h, w, bias, &outFast)
        ngk_winograd43_output_ref(products, count, 0, c, c, first, count, h, w, bias, &outTwin)
        for (a, b) in zip(outFast, outTwin) { XCTAssertEqual(a, b, accuracy: 1e-5 * max(1, abs(b))) }
        XCTAssertGreaterThan(outTwin.filter { $0 != 0 }.count, c * h * w / 2)
    }

    /// The input transform of a plane read as its nearest ×2 upsampling equals the transform of
    /// the upsampled plane made whole, for the 8-lane body and its twin; ×4 through the twin's
    /// general path.
    func testNearestUpsampledInputMatchesTheMadePlane() {
        let (c, sh, sw) = (3, 10, 13)
        let source = lcgThousandths([1, c, sh, sw], state: 8)
        for up in [1, 2] {
            let (h, w) = (sh << up, sw << up)
            let made = Convolution.upsampleNearest2d(source, scaleFactor: Float(1 << up), context: .default).values
            let tiles = ((h + 3) / 4) * ((w + 3) / 4), (first, count) = (3, tiles - 5)
            var fromMade = [Float](repeating: 0, count: 36 * ngk_winograd43_plane(c, count))
            var fast = fromMade, twin = fromMade, twinFromMade = fromMade
            ngk_winograd43_input(made, h, w, 0, c, c, first, count, &fromMade, count)
            ngk_winograd43_input_ref(made, h, w, 0, c, c, first, count, &twinFromMade, count)
            ngk_winograd43_input_nearest(source.values, up, h, w, 0, c, c, first, count, &fast, count)
            ngk_winograd43_input_nearest_ref(source.values, up, h, w, 0, c, c, first, count, &twin, count)
            XCTAssertEqual(fast, fromMade, "×\(1 << up): 8-lane body")
            XCTAssertEqual(twin, twinFromMade, "×\(1 << up): scalar twin")
            XCTAssertGreaterThan(fast.filter { $0 != 0 }.count, fast.count / 8, "×\(1 << up): transforms all but vanish")
        }
    }

    /// The whole convolution of an upsampled input without making it, against im2col on the
    /// made plane, with a chunked tile loop and a batch of 2.
    func testConvolutionOfNearestUpsampledInput() {
        let (n, c, o, sh, sw) = (2, 16, 12, 11, 9)
        let x = lcgThousandths([n, c, sh, sw], state: 21), weight = lcgThousandths([o, c, 3, 3], state: 22)
        let bias = lcgThousandths([o], state: 23)
        var context = ExecutionContext.default
        context.convolutionColumnBudget = 36 * 32 * 10 / 4
        let fused = Convolution.winogradConv3x3(x, kernel: WinogradKernel(weight, context: context), bias: bias,
                                                nearestUpsampling: 1, context: context)
        context.winogradEnabled = false
        let made = Convolution.upsampleNearest2d(x, scaleFactor: 2, context: context)
        let direct = Convolution.conv2d(made, weight: weight, bias: bias, padding: [1, 1], context: context)
        XCTAssertEqual(fused.shape, [n, o, 2 * sh, 2 * sw])
        let rel = relativeL2(fused, direct)
        XCTAssertLessThan(rel, 2e-6, "rel L2 \(rel)")
    }
}

private final class WinogradOwner: Sendable {}
