// libFuzzer target: SentencePiece tokenizer.model, then encode/decode.
// The body is FuzzTarget.sentencepiece.run (Sources/NextGPTFuzzTargets), which FuzzSeedCorpusTests also runs.
import CFuzzDriver
import NextGPTFuzzTargets

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzTarget.sentencepiece.run(FuzzInput.bytes(data, size))
    return 0
}

@_cdecl("fuzz_sentencepiece_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
