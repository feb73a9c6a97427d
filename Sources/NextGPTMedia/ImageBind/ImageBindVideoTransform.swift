import Foundation
import NextGPTCore
import NextGPTKernels

/// `imagebind/data.py` `load_and_transform_video_data` (clip_duration 2, clips_per_video 5), to the
/// letter, over pytorchvideo 0.1.5's decord path:
///
/// 1. `get_clip_timepoints(ConstantClipsPerVideoSampler(2, 5), duration)`, duration = frames / fps;
/// 2. per clip `EncodedVideoDecord.get_clip`: frames `ceil(fps·start) ..< min(ceil(fps·end), frames)`
///    (fps times the clip time as a Python float);
/// 3. `UniformTemporalSubsample(2)`: `linspace(0, T−1, 2)` → the clip's first and last frame;
/// 4. `/ 255` in float32, `ShortSideScale(224)` (bilinear, `align_corners=False`, long side
///    `floor(long / short · 224)`), `NormalizeVideo` with CLIP's mean/std (float32 subtract, divide);
/// 5. `SpatialCrop(224, 3)`: left/centre/right crops, or top/centre/bottom when taller than wide,
///    offsets `ceil((L − 224) / 2)`; clip-major order → [1, 15, 3, 2, 224, 224].
public enum ImageBindVideoTransform {
    public static let clipDuration = 2
    public static let clipsPerVideo = 5
    public static let framesPerClip = 2
    public static let cropSize = 224
    public static let spatialCrops = 3
    public static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let std: [Float] = [0.26862954, 0.26130258, 0.27577711]
    /// A scaled long side beyond this is refused (a 1 × 16384 video would need gigabytes).
    public static let maxScaledSide = 224 * 64

    public struct TransformError: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The two frame indices each clip keeps (clip order as data.py builds it). pytorchvideo fails
    /// with a bare assertion when a clip holds no frame (possible only below 0.5 fps); this refuses
    /// it by name.
    public static func clipFrameIndices(frameCount: Int, fps: Double, rule: ClipSamplerRule = .pytorchvideo015) throws -> [[Int]] {
        guard frameCount > 0 else { throw TransformError("the video has no frames") }
        guard fps.isFinite, fps > 0 else { throw TransformError("frame rate \(fps) is not positive") }
        let duration = Double(frameCount) / fps
        let sampler = ConstantClipsPerVideoSampler(clipDuration: clipDuration, clipsPerVideo: clipsPerVideo, rule: rule)
        return try sampler.clipTimepoints(duration: duration).enumerated().map { clip, point in
            let startIndex = Int((fps * point.start.doubleValue).rounded(.up))
            let endIndex = min(Int((fps * point.end.doubleValue).rounded(.up)), frameCount)
            let count = endIndex - startIndex
            guard count > 0 else {
                throw TransformError("clip \(clip) (\(point.start.doubleValue) s to \(point.end.doubleValue) s) holds no frame of the \(frameCount) at \(fps) fps")
            }
            // torch.linspace(0, count − 1, 2) is exactly [0, count − 1] in float32 for any real count.
            return [startIndex, startIndex + count - 1]
        }
    }

    /// Reads a video file (only the frames the clips keep are converted and held) → [1, 15, 3, 2, 224, 224].
    public static func clips(
        path: String, rule: ClipSamplerRule = .pytorchvideo015, context: ExecutionContext, progress: ProgressReporter? = nil
    ) throws -> Tensor {
        let video = try VideoFile(path: path)
        let perClip: [[Int]]
        do { perClip = try clipFrameIndices(frameCount: video.frameCount, fps: video.fps, rule: rule) } catch let error as TransformError {
            throw VideoError.badRequest(path: path, reason: error.description)
        }
        let frames = try video.frames(at: perClip.flatMap { $0 }, progress: progress)
        let pairs = stride(from: 0, to: frames.count, by: framesPerClip).map { Array(frames[$0..<($0 + framesPerClip)]) }
        do { return try clips(clipFrames: pairs, context: context) } catch let error as TransformError {
            throw VideoError.badRequest(path: path, reason: error.description)
        }
    }

    /// Decoded frames [T, H, W, 3] (0–255) at `fps` → [1, 15, 3, 2, 224, 224] (the verify call).
    public static func clips(frames: Tensor, fps: Double, rule: ClipSamplerRule = .pytorchvideo015, context: ExecutionContext) throws -> Tensor {
        guard frames.rank == 4, frames.shape[3] == 3, frames.shape[1] > 0, frames.shape[2] > 0 else {
            throw TransformError("frames must be [T, H, W, 3], got \(frames.shape)")
        }
        let (height, width) = (frames.shape[1], frames.shape[2])
        let frameSize = height * width * 3
        let perClip = try clipFrameIndices(frameCount: frames.shape[0], fps: fps, rule: rule)
        let pairs: [[RGBImage]] = try frames.withUnsafeBufferPointer { values in
            try perClip.map { indices in
                try indices.map { index in
                    let slice = values[(index * frameSize)..<((index + 1) * frameSize)]
                    guard slice.allSatisfy({ $0 >= 0 && $0 <= 255 && $0 == $0.rounded() }) else {
                        throw TransformError("frame \(index) holds values that are not integers 0–255")
                    }
                    return try RGBImage(width: width, height: height, pixels: slice.map { UInt8($0) })
                }
            }
        }
        return try clips(clipFrames: pairs, context: context)
    }

    /// Clips of `framesPerClip` equal-size frames each → [1, clips·3, 3, T, 224, 224].
    public static func clips(clipFrames: [[RGBImage]], context: ExecutionContext) throws -> Tensor {
        guard let first = clipFrames.first?.first else { throw TransformError("no clips") }
        let (height, width) = (first.height, first.width)
        let (scaledHeight, scaledWidth) = shortSideScaled(height: height, width: width)
        guard max(scaledHeight, scaledWidth) <= maxScaledSide else {
            throw TransformError("frames of \(width)×\(height) would scale to \(scaledWidth)×\(scaledHeight), beyond \(maxScaledSide) pixels")
        }
        let temporal = clipFrames[0].count
        let crop = cropSize
        let cropPlane = crop * crop
        var out = Tensor(zeros: [1, clipFrames.count * spatialCrops, 3, temporal, crop, crop])
        for (clip, frames) in clipFrames.enumerated() {
            guard frames.count == temporal, frames.allSatisfy({ $0.width == width && $0.height == height }) else {
                throw TransformError("clip \(clip) has frames of another count or size than clip 0")
            }
            // (C, T, H, W) float32 in [0, 1]: pytorchvideo's thwc_to_cthw, then `/ 255.0`.
            let video = Tensor(shape: [3, temporal, height, width]) { v in
                for (t, frame) in frames.enumerated() {
                    frame.pixels.withUnsafeBufferPointer { p in
                        for c in 0..<3 {
                            let plane = (c * temporal + t) * height * width
                            for i in 0..<(height * width) { v[plane + i] = Float(p[i * 3 + c]) / 255 }
                        }
                    }
                }
            }
            let scaled = BilinearResize.resize(video, height: scaledHeight, width: scaledWidth, context: context)
            let offsets = cropOffsets(height: scaledHeight, width: scaledWidth)
            out.withUnsafeMutableBufferPointer { o in
                scaled.withUnsafeBufferPointer { s in
                    for (k, offset) in offsets.enumerated() {
                        let base = (clip * spatialCrops + k) * 3 * temporal * cropPlane
                        for c in 0..<3 {
                            let (m, d) = (mean[c], std[c])
                            for t in 0..<temporal {
                                let plane = (c * temporal + t) * scaledHeight * scaledWidth
                                let target = base + (c * temporal + t) * cropPlane
                                for y in 0..<crop {
                                    let row = plane + (y + offset.y) * scaledWidth + offset.x
                                    for x in 0..<crop { o[target + y * crop + x] = (s[row + x] - m) / d }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// pytorchvideo `short_side_scale` sizes: the short side becomes 224, the long side
    /// `int(floor(float(long) / short · 224))`; a square takes the `else` branch (width ≥ height).
    public static func shortSideScaled(height: Int, width: Int) -> (height: Int, width: Int) {
        if width < height { return (Int((Double(height) / Double(width) * Double(cropSize)).rounded(.down)), cropSize) }
        return (cropSize, Int((Double(width) / Double(height) * Double(cropSize)).rounded(.down)))
    }

    /// data.py `uniform_crop` offsets for spatial_idx 0, 1, 2.
    public static func cropOffsets(height: Int, width: Int) -> [(y: Int, x: Int)] {
        let centreY = Int((Double(height - cropSize) / 2).rounded(.up))
        let centreX = Int((Double(width - cropSize) / 2).rounded(.up))
        if height > width {
            return [(0, centreX), (centreY, centreX), (height - cropSize, centreX)]
        }
        return [(centreY, 0), (centreY, centreX), (centreY, width - cropSize)]
    }
}
