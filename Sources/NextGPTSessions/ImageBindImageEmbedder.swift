import Foundation
import NextGPTImageBind
import NextGPTKernels
import NextGPTMedia

/// Image files → ImageBind embeddings, as NExT-GPT does it: `load_and_transform_vision_data`
/// (the file opened as RGB, Resize/CenterCrop/ToTensor/Normalize), then `ImageBindModel` on the
/// vision modality. Embeddings are unit length (before any logit scale).
public struct ImageBindImageEmbedder: Sendable {
    public let model: ImageBindModel

    public init(model: ImageBindModel) {
        self.model = model
    }

    /// `pixel_values` [N, 3, 224, 224] of the files, in order; a file that cannot be read is an
    /// error naming it.
    public static func pixelValues(paths: [String]) throws -> Tensor {
        guard !paths.isEmpty else { throw ImageError.badImage("no image files given") }
        let plane = 3 * ImageBindImageTransform.size * ImageBindImageTransform.size
        var values: [Float] = []
        values.reserveCapacity(paths.count * plane)
        for path in paths {
            let image = try ImageFile.read(path: path)
            do { values += try ImageBindImageTransform.pixelValues(image).values } catch let error as ImageError {
                throw ImageError.badImage("\(path): \(error)")
            }
        }
        return Tensor(shape: [paths.count, 3, ImageBindImageTransform.size, ImageBindImageTransform.size], values: values)
    }

    /// One embedding [N, out_embed_dim] per image file.
    public func embed(paths: [String], context: ExecutionContext) throws -> Tensor {
        try model(try Self.pixelValues(paths: paths), modality: .vision, context: context)
    }
}
