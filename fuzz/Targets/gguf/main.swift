// libFuzzer target: GGUFFile and Container.
// The body is FuzzTarget.gguf.run (Sources/NextGPTFuzzTargets), which FuzzSeedCorpusTests also runs.
import CFuzzDriver
import NextGPTFuzzTargets

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.gguf.run(FuzzInput.bytes(data, size))
    return 0
}

@_cdecl("fuzz_gguf_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
