// libFuzzer target: the restricted pickle machine, the flattening rule and tensor-view checks,
// with the input as the data.pkl of a torch.save zip (storage archive/data/0: 64 bytes).
import CFuzzDriver
import FuzzSupport
import NextGPTFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.write(TorchZipWrapper.archive(pickle: FuzzInput.bytes(data, size)), name: "input.pt")
    if let checkpoint = try? TorchCheckpoint.read(path: path) { FuzzInput.touch(checkpoint.tensors) }
    return 0
}

@_cdecl("fuzz_pickle_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
