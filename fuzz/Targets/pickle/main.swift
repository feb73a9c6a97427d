// libFuzzer target: the restricted pickle machine, flattening and tensor views, the input as a torch zip's data.pkl.
// The body is FuzzTarget.pickle.run (Sources/NextGPTFuzzTargets), which FuzzSeedCorpusTests also runs.
import CFuzzDriver
import NextGPTFuzzTargets

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.pickle.run(FuzzInput.bytes(data, size))
    return 0
}

@_cdecl("fuzz_pickle_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
