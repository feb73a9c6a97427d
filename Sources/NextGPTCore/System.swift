#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum System {
    /// Processors this process may run on.
    public static var activeProcessorCount: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Peak resident set size of this process in bytes (VmHWM), or nil where unknown.
    public static func peakResidentBytes() -> Int? {
        statusField("VmHWM:")
    }

    /// Starts a new peak: Linux resets VmHWM to the current RSS when "5" is written to
    /// /proc/self/clear_refs, so a staged run can report each stage's own peak.
    public static func resetPeakResident() {
        guard let f = fopen("/proc/self/clear_refs", "w") else { return }
        fputs("5", f)
        fclose(f)
    }

    public static func residentBytes() -> Int? {
        statusField("VmRSS:")
    }

    private static func statusField(_ name: String) -> Int? {
        guard let f = fopen("/proc/self/status", "r") else { return nil }
        defer { fclose(f) }
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, 256, f) != nil {
            let text = String(cString: line)
            if text.hasPrefix(name) {
                let digits = text.dropFirst(name.count).filter(\.isNumber)
                return Int(digits).map { $0 * 1024 }
            }
        }
        return nil
    }
}
