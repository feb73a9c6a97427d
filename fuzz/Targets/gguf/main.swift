// libFuzzer target: GGUF header, metadata and tensor records (GGUFFile, Container).
import CFuzzDriver
import FuzzSupport
import NextGPTFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.write(FuzzInput.bytes(data, size), name: "input.gguf")
    if let file = try? GGUFFile(path: path) {
        for tensor in file.tensors.prefix(64) where tensor.byteCount <= 1 << 20 { _ = try? file.bytes(of: tensor) }
    }
    _ = try? Container(path: path)
    return 0
}

@_cdecl("fuzz_gguf_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
