import Foundation
import NextGPTCore
import NextGPTKernels

/// The tile geometry of `AutoencoderKL.enable_tiling()`: image tiles of `tile_sample_min_size`
/// (the config's `sample_size`), latent tiles of `tile_latent_min_size` = ⌊sample / 2^(levels−1)⌋,
/// neighbours overlapping by `tile_overlap_factor` = 0.25.
public struct VAETiling: Sendable, Equatable {
    public static let overlapFactor = 0.25
    public let sampleSize: Int
    public let latentSize: Int

    public init(sampleSize: Int, downscaleFactor: Int) {
        self.sampleSize = sampleSize
        latentSize = Int(Double(sampleSize) / Double(downscaleFactor))
    }

    /// Whether these sizes make tiles at all (diffusers would loop with a zero step otherwise).
    public var isUsable: Bool { Int(Double(min(sampleSize, latentSize)) * (1 - VAETiling.overlapFactor)) > 0 }
}

extension AutoencoderKL {
    /// The default tiling (tile = config `sample_size`), or one with another image tile side.
    public func tiling(sampleSize: Int? = nil) -> VAETiling {
        VAETiling(sampleSize: sampleSize ?? config.sampleSize, downscaleFactor: config.downscaleFactor)
    }

    /// `vae.enable_tiling(); vae.decode(latents).sample`: latents wider or taller than a latent
    /// tile are decoded tile by tile (tiles start every ⌊0.75·latent tile⌋), each decoded tile is
    /// blended into its upper and left neighbours over ⌊0.25·sample tile⌋ rows/columns, and cropped
    /// to `sample − blend`; smaller latents decode whole. Only two rows of decoded tiles are alive
    /// at once (diffusers keeps them all; the result is the same because each tile is blended
    /// against neighbours that are already final).
    public func decodeTiled(_ latents: Tensor, tiling: VAETiling? = nil, context: ExecutionContext) -> Tensor {
        checkInput(latents, channels: config.latentChannels, what: "latents")
        let tiling = tiling ?? self.tiling()
        precondition(tiling.isUsable, "\(component): tile sizes \(tiling) are too small")
        guard latents.shape[3] > tiling.latentSize || latents.shape[2] > tiling.latentSize else { return decode(latents, context: context) }
        return Self.tiled(latents, tile: tiling.latentSize, overlap: Int(Double(tiling.latentSize) * (1 - VAETiling.overlapFactor)),
                          blend: Int(Double(tiling.sampleSize) * VAETiling.overlapFactor),
                          keep: tiling.sampleSize - Int(Double(tiling.sampleSize) * VAETiling.overlapFactor)) { tile in
            decoder(postQuantConv.map { $0(tile, context) } ?? tile, context)
        }
    }

    /// `vae.enable_tiling(); vae.encode(image).latent_dist`: the same scheme over image tiles
    /// (`_tiled_encode`) when the image is wider or taller than a sample tile.
    public func encodeTiled(_ image: Tensor, tiling: VAETiling? = nil, context: ExecutionContext) -> DiagonalGaussianDistribution {
        checkInput(image, channels: config.inChannels, what: "image")
        let tiling = tiling ?? self.tiling()
        precondition(tiling.isUsable, "\(component): tile sizes \(tiling) are too small")
        guard image.shape[3] > tiling.sampleSize || image.shape[2] > tiling.sampleSize else { return encode(image, context: context) }
        let moments = Self.tiled(image, tile: tiling.sampleSize, overlap: Int(Double(tiling.sampleSize) * (1 - VAETiling.overlapFactor)),
                                 blend: Int(Double(tiling.latentSize) * VAETiling.overlapFactor),
                                 keep: tiling.latentSize - Int(Double(tiling.latentSize) * VAETiling.overlapFactor)) { tile in
            let encoded = encoder(tile, context)
            return quantConv.map { $0(encoded, context) } ?? encoded
        }
        return DiagonalGaussianDistribution(moments: moments)
    }

    /// Tiles of side `tile` starting every `overlap` positions, mapped by `body`, blended
    /// (`blend_v` with the tile above, then `blend_h` with the tile to the left, both already
    /// blended) and cropped to `keep`×`keep`, then concatenated.
    static func tiled(_ x: Tensor, tile: Int, overlap: Int, blend: Int, keep: Int, _ body: (Tensor) -> Tensor) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3])
        var strips: [Tensor] = []
        var above: [Tensor] = []
        for top in stride(from: 0, to: h, by: overlap) {
            var row: [Tensor] = []
            var crops: [Tensor] = []
            for (j, left) in stride(from: 0, to: w, by: overlap).enumerated() {
                var mapped = body(crop(x, rows: top..<(top + tile), columns: left..<(left + tile)))
                if !above.isEmpty { blendVertical(above[j], into: &mapped, extent: blend) }
                if let previous = row.last { blendHorizontal(previous, into: &mapped, extent: blend) }
                crops.append(crop(mapped, rows: 0..<keep, columns: 0..<keep))
                row.append(mapped)
            }
            strips.append(Shape.cat(crops, dim: 3))
            above = row
        }
        return Shape.cat(strips, dim: 2)
    }

    /// `x[:, :, rows, columns]` with Python's clamping of slice ends.
    static func crop(_ x: Tensor, rows: Range<Int>, columns: Range<Int>) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let r = rows.clamped(to: 0..<h), q = columns.clamped(to: 0..<w)
        if r == 0..<h && q == 0..<w { return x }
        return Tensor(shape: [n, c, r.count, q.count]) { out in
            x.readPointer { src in
                var o = out.baseAddress!
                for plane in 0..<(n * c) {
                    for y in r {
                        o.update(from: src + (plane * h + y) * w + q.lowerBound, count: q.count)
                        o += q.count
                    }
                }
            }
        }
    }

    /// `blend_v(a, b, extent)`: b's first rows fade in from a's last rows,
    /// b[y] = a[−e + y]·(1 − y/e) + b[y]·(y/e), e = min(a rows, b rows, extent).
    static func blendVertical(_ a: Tensor, into b: inout Tensor, extent: Int) {
        let e = min(a.shape[2], b.shape[2], extent)
        let (planes, ha, hb, w) = (b.shape[0] * b.shape[1], a.shape[2], b.shape[2], b.shape[3])
        precondition(a.shape[3] == w && a.shape[0] * a.shape[1] == planes, "blend_v: \(a.shape) above \(b.shape)")
        b.withUnsafeMutableBufferPointer { dst in
            a.readPointer { src in
                for y in 0..<e {
                    let (fade, keep) = weights(y, e)
                    for plane in 0..<planes {
                        let from = src + (plane * ha + ha - e + y) * w
                        let to = dst.baseAddress! + (plane * hb + y) * w
                        for x in 0..<w { to[x] = blended(from[x], fade, to[x], keep) }
                    }
                }
            }
        }
    }

    /// `blend_h(a, b, extent)`: the same across columns.
    static func blendHorizontal(_ a: Tensor, into b: inout Tensor, extent: Int) {
        let e = min(a.shape[3], b.shape[3], extent)
        let (rows, wa, wb) = (b.shape[0] * b.shape[1] * b.shape[2], a.shape[3], b.shape[3])
        precondition(a.shape[0] * a.shape[1] * a.shape[2] == rows, "blend_h: \(a.shape) left of \(b.shape)")
        b.withUnsafeMutableBufferPointer { dst in
            a.readPointer { src in
                for x in 0..<e {
                    let (fade, keep) = weights(x, e)
                    for r in 0..<rows {
                        let to = dst.baseAddress! + r * wb + x
                        to.pointee = blended(src[r * wa + wa - e + x], fade, to.pointee, keep)
                    }
                }
            }
        }
    }

    /// PyTorch multiplies f32 tensors by Python floats rounded to f32, one product at a time.
    static func weights(_ i: Int, _ extent: Int) -> (Float, Float) {
        let t = Double(i) / Double(extent)
        return (Float(1 - t), Float(t))
    }

    @inline(__always)
    static func blended(_ a: Float, _ fade: Float, _ b: Float, _ keep: Float) -> Float {
        let faded = a * fade
        let kept = b * keep
        return faded + kept
    }
}
