// libFuzzer target: byte-level BPE folders (vocab.json + merges.txt, split at the first NUL
// byte of the input) and ImageBind's merges file text → tokenizer → encode.
import CFuzzDriver
import FuzzSupport
import NextGPTFormats
import NextGPTTokenizers

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = FuzzInput.bytes(data, size)
    let (vocab, merges) = FuzzInput.split(bytes)
    FuzzInput.write(vocab, name: "vocab.json")
    FuzzInput.write(merges, name: "merges.txt")
    _ = try? BPEVocabulary(folder: FuzzInput.folder)
    if let text = String(validating: merges, as: UTF8.self), let tokenizer = try? ImageBindTokenizer(mergesFileText: text) {
        _ = tokenizer("a photo of a dog, 2 cats & <b>one</b> bird!")
    }
    return 0
}

@_cdecl("fuzz_bpe_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
