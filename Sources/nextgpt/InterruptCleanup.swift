#if canImport(Glibc)
import Glibc
#endif

/// Removes the converter's temporary file when the process is interrupted (Ctrl-C, SIGTERM),
/// so nothing half-written stays beside the destination. The final name is only ever created
/// by a rename after a complete write, so it is never at risk.
enum InterruptCleanup {
    // nonisolated(unsafe): a C signal handler can only reach a global, and it must not take a
    // lock. Safe because the pointer is written once in `install` (one conversion per process)
    // before the handlers are registered, and the handler only reads it.
    nonisolated(unsafe) private static var pattern: UnsafeMutablePointer<CChar>?

    struct Handle {
        func remove() {
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }
    }

    static func install(removing destination: String) -> Handle {
        let slash = destination.lastIndex(of: "/")
        let directory = slash.map { String(destination[..<$0]) } ?? "."
        let base = slash.map { String(destination[destination.index(after: $0)...]) } ?? destination
        pattern = strdup("\(directory)/.\(base).tmp-\(getpid())")
        let handler: @convention(c) (Int32) -> Void = { signal in
            // The handler may run on another thread while the writer is inside open(O_CREAT):
            // the file can appear just after the first unlink. A second unlink 2 ms later
            // (nanosleep is async-signal-safe) closes that window; a SIGKILL's leftovers are
            // removed by the next conversion (GGUFWriter.removeStaleTemporaries).
            if let path = InterruptCleanup.pattern {
                unlink(path)
                var pause = timespec(tv_sec: 0, tv_nsec: 2_000_000)
                nanosleep(&pause, nil)
                unlink(path)
            }
            _exit(128 + signal)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        return Handle()
    }
}
