import CNextGPTKernels

extension Convolution {
    /// `conv2d(x, matrix:…)` for a repacked Q8_0 kernel matrix through the lane GEMM: each work
    /// item gathers one panel of output positions' patches straight from the input planes and
    /// quantizes them into its own L2-sized buffer (16 positions to a vector, Q8_0 blocks along
    /// K = C·kh·kw in the weight's order), then multiplies every weight row of its part, writing
    /// [O, positions] channel-major with the bias. Same quantized values and block order as the
    /// patch-row path through the integer GEMM, so the same floats.
    static func conv2dLanes(_ x: Tensor, matrix: WeightMatrix, kernel: [Int], bias: Tensor?, stride: [Int], padding: [Int],
                            context: ExecutionContext, reference: Bool = false) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h + 2 * padding[0] - kernel[0]) / stride[0] + 1, ow = (w + 2 * padding[1] - kernel[1]) / stride[1] + 1
        let o = matrix.rows, p = oh * ow, columns = matrix.columns
        let geometry = ngk_conv_geometry(c: c, h: h, w: w, kh: kernel[0], kw: kernel[1], sh: stride[0], sw: stride[1],
                                         ph: padding[0], pw: padding[1], oh: oh, ow: ow)
        let table = Matmul.laneTable(matrix, pool: context.pool, reference: reference)
        defer { table.deallocate() }
        let data = matrix.data, groupBytes = matrix.groupBytes, tableBytes = columns / 32 * Int(NGK_LANES_TABLE_BYTES)
        let work = LaneWork(samples: n, positions: p, columns: columns, rows: o, threads: context.threads)
        let biasValues = bias?.values
        return Tensor(shape: [n, o, oh, ow]) { out in
            let y = SendablePointer(out.baseAddress!)
            x.readPointer { src in
                let input = SendableReadPointer(src)
                biasValues.withOptionalBaseAddress { biasPointer in
                    work.run(pool: context.pool) { item, scratch in
                        withUnsafePointer(to: geometry) { g in
                            let sample = input.pointer + item.sample * c * h * w
                            if reference {
                                ngk_lanes_conv_q8_0_ref(sample, g, item.first, item.count, scratch)
                            } else {
                                ngk_lanes_conv_q8_0(sample, g, item.first, item.count, scratch)
                            }
                        }
                        let r0 = item.rows.lowerBound
                        let gemm = reference ? ngk_lanes_gemm_q8_0x8_ref : ngk_lanes_gemm_q8_0x8
                        gemm(data + r0 / 8 * groupBytes, groupBytes, table + r0 / 8 * tableBytes, item.rows.count, columns,
                             scratch, item.count, y.base + (item.sample * o + r0) * p + item.first, p, 0, biasPointer.map { $0 + r0 })
                    }
                }
            }
        }
    }
}
