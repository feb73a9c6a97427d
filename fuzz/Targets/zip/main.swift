// libFuzzer target: zip end record, ZIP64 records, central directory and local headers (ZipArchive).
import CFuzzDriver
import FuzzSupport
import NextGPTFormats

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.write(FuzzInput.bytes(data, size), name: "input.zip")
    if let archive = try? ZipArchive(path: path) {
        for entry in archive.entries.prefix(64) { _ = try? archive.readStored(entry, limit: 1 << 20) }
    }
    // The whole torch zip path too: data.pkl lookup, byteorder/version records.
    if let checkpoint = try? TorchCheckpoint.read(path: path) { FuzzInput.touch(checkpoint.tensors) }
    return 0
}

@_cdecl("fuzz_zip_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    nextgpt_fuzz_run(argc, argv, fuzz)
}
