import Foundation

/// Embedding lookups and diffusers' sinusoidal timestep embedding.
public enum Embeddings {
    /// `F.embedding(ids, weight)`: rows of weight [V, D] → [ids.count, D].
    public static func embedding(_ ids: [Int], weight: Tensor) -> Tensor {
        precondition(weight.rank == 2, "embedding: weight \(weight.shape)")
        let v = weight.shape[0], d = weight.shape[1]
        return Tensor(shape: [ids.count, d]) { out in
            weight.readPointer { w in
                for (i, id) in ids.enumerated() {
                    precondition(id >= 0 && id < v, "embedding: id \(id) outside 0..<\(v)")
                    (out.baseAddress! + i * d).update(from: w + id * d, count: d)
                }
            }
        }
    }

    /// `F.embedding` on a container weight [V, D]: only the requested rows are dequantized.
    public static func embedding(_ ids: [Int], weight: Weight) -> Tensor {
        precondition(weight.shape.count == 2, "embedding: weight \(weight.name) has shape \(weight.shape)")
        let v = weight.shape[0], d = weight.shape[1]
        guard let rowBytes = weight.type.byteCount(elements: d) else {
            preconditionFailure("embedding: rows of \(d) are not whole \(weight.type) blocks")
        }
        return Tensor(shape: [ids.count, d]) { out in
            for (i, id) in ids.enumerated() {
                precondition(id >= 0 && id < v, "embedding: id \(id) outside 0..<\(v)")
                let row = UnsafeRawBufferPointer(rebasing: weight.bytes[(id * rowBytes)..<((id + 1) * rowBytes)])
                let values = TensorEncoding.decode(row, type: weight.type, count: d)
                values.withUnsafeBufferPointer { (out.baseAddress! + i * d).update(from: $0.baseAddress!, count: d) }
            }
        }
    }

    /// diffusers `get_timestep_embedding(timesteps, embedding_dim, flip_sin_to_cos,
    /// downscale_freq_shift, scale, max_period)` → [timesteps.count, dim], computed in f32 step by
    /// step as diffusers does (odd dims end with a zero column).
    public static func getTimestepEmbedding(_ timesteps: [Float], dim: Int, flipSinToCos: Bool = false,
                                            downscaleFreqShift: Float = 1, scale: Float = 1,
                                            maxPeriod: Float = 10000) -> Tensor {
        let half = dim / 2
        let logPeriod = Float(-Foundation.log(Double(maxPeriod)))
        let freqs: [Float] = (0..<half).map { i in
            let exponent = (logPeriod * Float(i)) / (Float(half) - downscaleFreqShift)
            return Float(Foundation.exp(Double(exponent)))
        }
        return Tensor(shape: [timesteps.count, dim]) { out in
            for (r, t) in timesteps.enumerated() {
                let row = out.baseAddress! + r * dim
                for i in 0..<half {
                    let angle = scale * (t * freqs[i])
                    let s = Float(Foundation.sin(Double(angle))), c = Float(Foundation.cos(Double(angle)))
                    row[i] = flipSinToCos ? c : s
                    row[half + i] = flipSinToCos ? s : c
                }
                if dim % 2 == 1 { row[dim - 1] = 0 }
            }
        }
    }
}
