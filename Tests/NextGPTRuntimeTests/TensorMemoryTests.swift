import NextGPTKernels
import NextGPTLayers
import XCTest

/// Activation storage goes back to the system when a tensor goes, even between long-lived small
/// ones (the pattern of a VAE decode: plane-sized activations among biases and statistics).
final class TensorMemoryTests: XCTestCase {
    func testLargeStorageIsZeroFilledAndCopiedOnWrite() {
        for count in [1000, 1 << 20, (1 << 20) + 3] {
            var a = Tensor(zeros: [count])
            a.withUnsafeBufferPointer { XCTAssertTrue($0.allSatisfy { $0 == 0 }, "\(count) values not zero-filled") }
            a.withUnsafeMutableBufferPointer { $0[count - 1] = 7 }
            var b = a
            b.withUnsafeMutableBufferPointer { $0[count - 1] = 9; $0[0] = 5 }
            a.withUnsafeBufferPointer { XCTAssertEqual([$0[0], $0[count - 1]], [0, 7], "original of \(count) changed by its copy") }
            b.withUnsafeBufferPointer { XCTAssertEqual([$0[0], $0[count - 1]], [5, 9]) }
        }
    }

    /// glibc's heaps keep freed chunks that live tensors fence in; mapped storage does not.
    /// 48 tensors of 4 MiB, each followed by a small one that stays, then the large ones freed.
    func testFreedActivationsLeaveTheResidentSet() {
        let mib = 1 << 20
        // A freed 16 MiB block would lift glibc's mmap threshold above 4 MiB for a malloc'd storage.
        _ = Tensor(shape: [4 * mib]) { $0.update(repeating: 1) }
        let start = MemoryReport.current().anonymousBytes
        var large: [Tensor] = [], small: [Tensor] = []
        for i in 0..<48 {
            large.append(Tensor(shape: [mib]) { $0.update(repeating: Float(i)) })
            small.append(Tensor(shape: [64]) { $0.update(repeating: Float(i)) })
        }
        let held = MemoryReport.current().anonymousBytes
        XCTAssertGreaterThan(held - start, 150 * mib, "48 × 4 MiB written but RSS grew by \(held - start) B")
        large.removeAll()
        let after = MemoryReport.current().anonymousBytes
        XCTAssertLessThan(after - start, 24 * mib, "freed 192 MiB, RSS still \(after - start) B above the start")
        XCTAssertEqual(small.map { $0.values[0] }, (0..<48).map(Float.init))
    }
}
