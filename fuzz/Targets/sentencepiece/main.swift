// libFuzzer target: SentencePiece tokenizer.model (protobuf) → tokenizer → encode/decode.
import CFuzzDriver
import FuzzSupport
import NextGPTFormats
import NextGPTTokenizers

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzInput.bytes(data, size)
    if let tokenizer = try? SentencePieceTokenizer(modelBytes: bytes) {
        let ids = tokenizer.encode("Hello world! ▁ <unk> 12 é 中文 \u{1F600}")
        _ = tokenizer.decode(ids)
    }
    return 0
}

@_cdecl("fuzz_sentencepiece_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
