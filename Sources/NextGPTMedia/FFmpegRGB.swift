import CFFmpeg

/// libswscale's conversion of one decoded frame to packed RGB24, shared by the image and video
/// readers. Nil when swscale converted fewer lines than the frame has, or the frame's own size is
/// not the one the scaler was made for.
enum FFmpegRGB {
    static func pixels(of frame: UnsafeMutablePointer<AVFrame>, scaler: OpaquePointer, width: Int, height: Int) -> [UInt8]? {
        // The scaler reads `height` lines of `width` pixels from the frame's planes.
        guard Int(frame.pointee.width) == width, Int(frame.pointee.height) == height else { return nil }
        // swscale's SIMD bodies store whole vectors and may run past the last pixel of a line and
        // of the image; FFmpeg's own buffers carry padding for that, a tight Swift array does not
        // (the mp4 fuzz target saw RGB bytes land past the end of one). So swscale writes into an
        // AVFrame buffer FFmpeg sized and aligned itself, and the rows are copied out tightly.
        var allocated = av_frame_alloc()
        defer { av_frame_free(&allocated) }
        guard let converted = allocated else { return nil }
        converted.pointee.width = Int32(width)
        converted.pointee.height = Int32(height)
        converted.pointee.format = AV_PIX_FMT_RGB24.rawValue
        guard av_frame_get_buffer(converted, 0) >= 0, let destination = converted.pointee.data.0 else { return nil }
        let destinationStride = Int(converted.pointee.linesize.0)
        let sourceData = withUnsafePointer(to: frame.pointee.data) { tuple in
            tuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { p in
                (0..<8).map { UnsafePointer(p[$0]) }
            }
        }
        let sourceStrides = withUnsafePointer(to: frame.pointee.linesize) { tuple in
            tuple.withMemoryRebound(to: Int32.self, capacity: 8) { p in (0..<8).map { p[$0] } }
        }
        let destinationData = withUnsafePointer(to: converted.pointee.data) { tuple in
            tuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { p in (0..<8).map { p[$0] } }
        }
        let destinationStrides = withUnsafePointer(to: converted.pointee.linesize) { tuple in
            tuple.withMemoryRebound(to: Int32.self, capacity: 8) { p in (0..<8).map { p[$0] } }
        }
        let lines = sws_scale(scaler, sourceData, sourceStrides, 0, Int32(height), destinationData, destinationStrides)
        guard lines == Int32(height) else { return nil }
        let rowBytes = width * 3
        return [UInt8](unsafeUninitializedCapacity: rowBytes * height) { out, count in
            for row in 0..<height {
                (out.baseAddress! + row * rowBytes).update(from: destination + row * destinationStride, count: rowBytes)
            }
            count = rowBytes * height
        }
    }
}
