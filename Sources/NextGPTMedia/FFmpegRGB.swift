import CFFmpeg

/// libswscale's conversion of one decoded frame to packed RGB24, shared by the image and video
/// readers. Nil when swscale converted fewer lines than the frame has.
enum FFmpegRGB {
    static func pixels(of frame: UnsafeMutablePointer<AVFrame>, scaler: OpaquePointer, width: Int, height: Int) -> [UInt8]? {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let lines = pixels.withUnsafeMutableBufferPointer { out -> Int32 in
            var destination: [UnsafeMutablePointer<UInt8>?] = [out.baseAddress, nil, nil, nil]
            var strides: [Int32] = [Int32(width * 3), 0, 0, 0]
            let sourceData = withUnsafePointer(to: frame.pointee.data) { tuple in
                tuple.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { p in
                    (0..<8).map { UnsafePointer(p[$0]) }
                }
            }
            let sourceStrides = withUnsafePointer(to: frame.pointee.linesize) { tuple in
                tuple.withMemoryRebound(to: Int32.self, capacity: 8) { p in (0..<8).map { p[$0] } }
            }
            return sws_scale(scaler, sourceData, sourceStrides, 0, Int32(height), &destination, &strides)
        }
        return lines == Int32(height) ? pixels : nil
    }
}
