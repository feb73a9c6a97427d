// libFuzzer target: PNG files through the libpng wrapper (PNGImage).
import CFuzzDriver
import FuzzSupport
import NextGPTMedia

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.write(FuzzInput.bytes(data, size), name: "input.png")
    _ = try? PNGImage.read(path: path)
    _ = try? PNGImage.textChunks(path: path)
    return 0
}

@_cdecl("fuzz_png_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
