import Foundation
import NextGPTKernels

extension ExecutionContext {
    /// The context a command runs in: `threads` workers (default: all cores) and, under
    /// `NEXTGPT_PROFILE=1`, a profile of the layers' wall time for the command to print.
    static func command(threads: Int?) -> ExecutionContext {
        var context = ExecutionContext(threads: threads)
        if ProcessInfo.processInfo.environment["NEXTGPT_PROFILE"] == "1" { context.profile = OpProfile() }
        return context
    }
}
