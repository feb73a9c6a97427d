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
    // Same reasoning: written once in `install` before the handlers exist, only read after.
    nonisolated(unsafe) private static var mainThread = pthread_self()

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
        mainThread = pthread_self()
        // Under the async root command this runs on a libdispatch worker, which starts with every
        // signal blocked: unblocked here, or the forwarded signal would wait until the write ends.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        let handler: @convention(c) (Int32) -> Void = { signal in
            // The writer creates its file on the main thread. Run there too (pthread_kill is
            // async-signal-safe), so the unlink comes before that open(O_CREAT) or after it,
            // never during it; from another thread, _exit could land while the main thread is
            // inside open and leave the file behind.
            if pthread_equal(pthread_self(), InterruptCleanup.mainThread) == 0 {
                pthread_kill(InterruptCleanup.mainThread, signal)
                return
            }
            if let path = InterruptCleanup.pattern { unlink(path) }
            _exit(128 + signal)
        }
        signal(SIGINT, handler)
        signal(SIGTERM, handler)
        return Handle()
    }
}
