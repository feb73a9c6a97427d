import Foundation

/// Wall time per kind of layer, for finding where a model's time goes. Off unless
/// `NEXTGPT_PROFILE=1` (then each measured call costs two clock reads); `report()` lists the totals.
public enum OpProfile {
    nonisolated(unsafe) public static var enabled = ProcessInfo.processInfo.environment["NEXTGPT_PROFILE"] == "1"
    nonisolated(unsafe) static var totals: [String: (seconds: Double, calls: Int)] = [:]
    static let lock = NSLock()

    @inline(__always)
    public static func measure<T>(_ name: @autoclosure () -> String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let key = name()
        lock.lock()
        let old = totals[key] ?? (0, 0)
        totals[key] = (old.seconds + seconds, old.calls + 1)
        lock.unlock()
        return result
    }

    /// One line per measured kind, most time first; resets the totals.
    public static func report() -> String {
        lock.lock()
        defer { totals = [:]; lock.unlock() }
        let sum = totals.values.reduce(0) { $0 + $1.seconds }
        return totals.sorted { $0.value.seconds > $1.value.seconds }.map {
            String(format: "%-28@ %8.3f s %5.1f%% %7d calls", $0.key as NSString, $0.value.seconds, 100 * $0.value.seconds / max(sum, 1e-9), $0.value.calls)
        }.joined(separator: "\n")
    }
}
