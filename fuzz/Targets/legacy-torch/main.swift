// libFuzzer target: the pre-1.6 torch.save format through CheckpointFile (sniffing too).
// The body is FuzzTarget.legacyTorch.run (Sources/NextGPTFuzzTargets), which FuzzSeedCorpusTests also runs.
import CFuzzDriver
import NextGPTFuzzTargets

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.legacyTorch.run(FuzzInput.bytes(data, size))
    return 0
}

@_cdecl("fuzz_legacy_torch_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
