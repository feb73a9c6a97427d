// libFuzzer target: JSON configs (JSONFile, LlamaConfig's field checks).
import CFuzzDriver
import FuzzSupport
import NextGPTFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.write(FuzzInput.bytes(data, size), name: "config.json")
    if let json = try? JSONFile.object(path) {
        if let config = try? LlamaConfig(json: json, path: path) { _ = config.inverseFrequencies() }
    }
    return 0
}

@_cdecl("fuzz_json_config_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
