import Foundation
import Synchronization

/// One request computes at a time (one model, all cores); up to `capacity` others wait in
/// arrival order, more are refused. Work runs on its own thread, away from the event loops and
/// Swift's cooperative pool.
actor ComputeQueue {
    let capacity: Int
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []
    /// Mirrors of the state for readers outside the actor (/metrics, Retry-After).
    nonisolated let waitingCount = Atomic<Int>(0)
    nonisolated let busyNow = Atomic<Bool>(false)

    init(capacity: Int) { self.capacity = capacity }

    struct Full: Error {}

    /// Waits for the model, or throws `Full` at once when `capacity` requests already wait.
    func enter() async throws {
        guard busy else {
            busy = true
            busyNow.store(true, ordering: .relaxed)
            return
        }
        guard waiting.count < capacity else { throw Full() }
        await withCheckedContinuation { waiting.append($0); waitingCount.store(waiting.count, ordering: .relaxed) }
    }

    func leave() {
        if waiting.isEmpty {
            busy = false
            busyNow.store(false, ordering: .relaxed)
        } else {
            waiting.removeFirst().resume()
            waitingCount.store(waiting.count, ordering: .relaxed)
        }
    }

    /// Runs `body` on a new thread once the model is free.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await enter()
        do {
            let value = try await Self.onThread(body)
            leave()
            return value
        } catch {
            leave()
            throw error
        }
    }

    /// The models recurse deeply through their layers: a thread with the main thread's room.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.stackSize = 16 << 20
            thread.start()
        }
    }
}
