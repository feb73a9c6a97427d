import NextGPTKernels

/// Frames between a pipeline's output and a video file.
public enum VideoFrames {
    /// diffusers' `export_to_video` of `output_type="np"` frames [F, H, W, 3] in [0, 1]:
    /// `(frame * 255).astype(np.uint8)`, a cut towards zero (NExT-GPT's `tensor2vid` does the same).
    public static func images(from frames: Tensor) throws -> [RGBImage] {
        guard frames.rank == 4, frames.shape[0] > 0, frames.shape[1] > 0, frames.shape[2] > 0, frames.shape[3] == 3 else {
            throw ImageError.badTensor("expected frames [F, H, W, 3], got \(frames.shape)")
        }
        let (count, h, w) = (frames.shape[0], frames.shape[1], frames.shape[2])
        let size = h * w * 3
        return try frames.withUnsafeBufferPointer { x in
            try (0..<count).map { f in
                let pixels = (0..<size).map { i in UInt8(min(max(x[f * size + i] * 255, 0), 255)) }
                return try RGBImage(width: w, height: h, pixels: pixels)
            }
        }
    }
}
