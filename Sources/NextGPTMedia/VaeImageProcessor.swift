import Foundation
import NextGPTKernels

/// diffusers `VaeImageProcessor` conversions between VAE tensors [N, 3, H, W] in [−1, 1] and
/// 8-bit RGB images, in the same float32 steps.
public enum VaeImageProcessor {
    /// `postprocess(output_type="pil")`: (x/2 + 0.5).clamp(0, 1), then `(x * 255).round()` (numpy,
    /// half to even) to uint8.
    public static func images(from tensor: Tensor) throws -> [RGBImage] {
        guard tensor.rank == 4, tensor.shape[1] == 3, tensor.shape[2] > 0, tensor.shape[3] > 0 else {
            throw ImageError.badTensor("expected [N, 3, H, W], got \(tensor.shape)")
        }
        let (n, h, w) = (tensor.shape[0], tensor.shape[2], tensor.shape[3])
        let plane = h * w
        return try tensor.withUnsafeBufferPointer { x in
            try (0..<n).map { b in
                var pixels = [UInt8](repeating: 0, count: plane * 3)
                for c in 0..<3 {
                    let base = (b * 3 + c) * plane
                    for i in 0..<plane {
                        let unit = min(max(x[base + i] / 2 + 0.5, 0), 1)
                        pixels[i * 3 + c] = UInt8((unit * 255).rounded(.toNearestOrEven))
                    }
                }
                return try RGBImage(width: w, height: h, pixels: pixels)
            }
        }
    }

    /// `preprocess` of PIL images: uint8 / 255 → [0, 1], then 2x − 1. All images must share a size.
    public static func tensor(from images: [RGBImage]) throws -> Tensor {
        guard let first = images.first else { throw ImageError.badImage("no images") }
        guard images.allSatisfy({ $0.width == first.width && $0.height == first.height }) else {
            throw ImageError.badImage("images differ in size")
        }
        let (h, w) = (first.height, first.width)
        let plane = h * w
        return Tensor(shape: [images.count, 3, h, w]) { out in
            for (b, image) in images.enumerated() {
                for c in 0..<3 {
                    let base = (b * 3 + c) * plane
                    for i in 0..<plane { out[base + i] = 2 * (Float(image.pixels[i * 3 + c]) / 255) - 1 }
                }
            }
        }
    }
}
