import NextGPTKernels
import NextGPTLayers
import NextGPTTestSupport
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

extension TensorMemoryTests {
    /// In place when the storage is the tensor's own; a shared one is left as it was.
    func testGroupNormInPlaceWritesOnlyUnsharedStorage() {
        let x = lcgThousandths([2, 8, 5, 7], state: 11), weight = lcgThousandths([8], state: 12), bias = lcgThousandths([8], state: 13)
        let expected = Normalization.groupNorm(x, groups: 4, weight: weight, bias: bias, eps: 1e-6, context: .default)
        var unique = Tensor(shape: x.shape, values: x.values)
        let address = unique.withUnsafeBufferPointer { $0.baseAddress }
        Normalization.groupNorm(inPlace: &unique, groups: 4, weight: weight, bias: bias, eps: 1e-6, context: .default)
        XCTAssertEqual(unique.values, expected.values)
        XCTAssertEqual(unique.withUnsafeBufferPointer { $0.baseAddress }, address, "unshared storage was not reused")
        var shared = x
        Normalization.groupNorm(inPlace: &shared, groups: 4, weight: weight, bias: bias, eps: 1e-6, context: .default)
        XCTAssertEqual(shared.values, expected.values)
        XCTAssertNotEqual(x.values, expected.values, "the tensor sharing the storage was written")
    }
}
