import Foundation
import NextGPTKernels

/// `imagebind/data.py` `load_and_transform_vision_data` after the file is opened as RGB:
/// `Resize(224, BICUBIC)` on the PIL image (Pillow's uint8 resize), `CenterCrop(224)`, `ToTensor`,
/// `Normalize` with CLIP's mean and std, all with torchvision's rounding.
public enum ImageBindImageTransform {
    public static let size = 224
    public static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let std: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// torchvision `_compute_resized_output_size` for an int size: the short side becomes `size`, the
    /// long one `int(size * long / short)` (Python's true division, then truncation).
    public static func resizedSize(width: Int, height: Int) -> (width: Int, height: Int) {
        let (short, long) = (min(width, height), max(width, height))
        let newLong = Int(Double(size * long) / Double(short))
        return width <= height ? (size, newLong) : (newLong, size)
    }

    /// torchvision `center_crop`'s offset: `int(round((image - crop) / 2))`, Python's half-to-even round.
    public static func centerCropOffset(_ imageSide: Int, crop: Int) -> Int {
        Int((Double(imageSide - crop) / 2).rounded(.toNearestOrEven))
    }

    /// The 224 × 224 uint8 image `CenterCrop(Resize(image))` (what `ToTensor` receives).
    public static func resizedCrop(_ image: RGBImage) throws -> RGBImage {
        let resized = resizedSize(width: image.width, height: image.height)
        guard resized.width <= PillowResize.maximumSide, resized.height <= PillowResize.maximumSide else {
            throw ImageError.badImage("a \(image.width)×\(image.height) image would resize to \(resized.width)×\(resized.height); its aspect ratio is absurd")
        }
        let region = (x: centerCropOffset(resized.width, crop: size), y: centerCropOffset(resized.height, crop: size),
                      width: size, height: size)
        return try PillowResize.resize(image, width: resized.width, height: resized.height, filter: .bicubic, region: region)
    }

    /// `ToTensor` (÷ 255) then `Normalize(mean, std)`, in float32: [1, 3, 224, 224].
    public static func pixelValues(fromCrop crop: RGBImage) throws -> Tensor {
        guard crop.width == size, crop.height == size else {
            throw ImageError.badImage("expected a \(size)×\(size) crop, got \(crop.width)×\(crop.height)")
        }
        let plane = size * size
        return Tensor(shape: [1, 3, size, size]) { out in
            for c in 0..<3 {
                for i in 0..<plane { out[c * plane + i] = (Float(crop.pixels[i * 3 + c]) / 255 - mean[c]) / std[c] }
            }
        }
    }

    /// The whole transform: an RGB image of any size → `pixel_values` [1, 3, 224, 224].
    public static func pixelValues(_ image: RGBImage) throws -> Tensor {
        try pixelValues(fromCrop: try resizedCrop(image))
    }

    /// An RGB image from a tensor [H, W, 3] of integers 0…255 (a bundle's `rgb`, widened to f32).
    public static func image(fromRGB tensor: Tensor) throws -> RGBImage {
        guard tensor.rank == 3, tensor.shape[2] == 3, tensor.shape[0] > 0, tensor.shape[1] > 0 else {
            throw ImageError.badTensor("expected RGB pixels [H, W, 3] with H, W ≥ 1, got \(tensor.shape)")
        }
        let values = tensor.values
        if let bad = values.first(where: { !($0 >= 0 && $0 <= 255 && $0.rounded() == $0) }) {
            throw ImageError.badTensor("RGB pixels must be integers 0…255, found \(bad)")
        }
        return try RGBImage(width: tensor.shape[1], height: tensor.shape[0], pixels: values.map { UInt8($0) })
    }
}
