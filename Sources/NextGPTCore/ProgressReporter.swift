/// How far one long job has got: a conversion (tensors, with bytes), a generation (tokens) or a
/// denoising loop (steps). One shape for all of them, so one display (the CLI's bar, later the
/// server's events) serves every job.
public struct ProgressUpdate: Sendable, Equatable {
    /// What is running: `converting`, `exporting`, `generating`, `denoising`.
    public var phase: String
    /// Units finished so far, out of `total`.
    public var completed: Int
    public var total: Int
    /// What one unit is: `tensor`, `token`, `step`.
    public var unit: String
    /// Seconds spent on the units so far (the measure rates and ETAs are derived from).
    public var elapsedSeconds: Double
    /// The unit being worked on, when it has a name (a tensor).
    public var item: String?
    /// Bytes done and in all, for jobs whose units differ much in size (conversion).
    public var bytesCompleted: Int?
    public var bytesTotal: Int?

    public init(phase: String, completed: Int, total: Int, unit: String, elapsedSeconds: Double,
                item: String? = nil, bytesCompleted: Int? = nil, bytesTotal: Int? = nil) {
        self.phase = phase
        self.completed = completed
        self.total = total
        self.unit = unit
        self.elapsedSeconds = elapsedSeconds
        self.item = item
        self.bytesCompleted = bytesCompleted
        self.bytesTotal = bytesTotal
    }

    /// Share done in [0, 1]: by bytes when known, else by units.
    public var fraction: Double {
        if let done = bytesCompleted, let all = bytesTotal { return all > 0 ? Double(done) / Double(all) : 1 }
        return total > 0 ? Double(completed) / Double(total) : 1
    }

    public var isComplete: Bool { completed >= total }
}

/// Receives progress updates; called on the thread doing the work, between units, so a slow
/// reporter slows the job.
public protocol ProgressReporter {
    func report(_ progress: ProgressUpdate)
    /// True once nobody wants the job's result (a server's client went away): the job stops at
    /// its next unit (token, denoising step, decoded frame) with `CancellationError`.
    var isCancelled: Bool { get }
}

extension ProgressReporter {
    public var isCancelled: Bool { false }

    /// Throws `CancellationError` when the reporter's caller has given up on the job.
    public func checkCancellation() throws {
        if isCancelled { throw CancellationError() }
    }
}

/// A reporter made of a closure (tests, one-off callers).
public struct ProgressHandler: ProgressReporter {
    let body: (ProgressUpdate) -> Void

    public init(_ body: @escaping (ProgressUpdate) -> Void) { self.body = body }

    public func report(_ progress: ProgressUpdate) { body(progress) }
}
