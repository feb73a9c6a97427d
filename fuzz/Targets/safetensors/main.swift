// libFuzzer target: safetensors header and tensor table (SafetensorsFile).
import CFuzzDriver
import FuzzSupport
import NextGPTFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.write(FuzzInput.bytes(data, size), name: "input.safetensors")
    if let checkpoint = try? SafetensorsFile.read(path: path) { FuzzInput.touch(checkpoint.tensors) }
    return 0
}

@_cdecl("fuzz_safetensors_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
