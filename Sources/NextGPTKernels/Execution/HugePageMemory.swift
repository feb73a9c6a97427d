import Glibc

/// Anonymous memory asked for in transparent huge pages (`MADV_HUGEPAGE`, which the host's
/// `madvise` mode honours): for buffers a kernel streams every token (repacked weights, the KV
/// cache). 2 MiB pages spare the page walks of 4 KiB ones, and a strided read (one head's 256
/// bytes of every cached position) touches a new 4 KiB page at every step.
/// Freed with `release()`; the owner decides when.
struct HugePageMemory {
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        self.byteCount = max(byteCount, 1)
        guard let p = mmap(nil, self.byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            fatalError("cannot map \(self.byteCount) bytes of anonymous memory")
        }
        _ = madvise(p, self.byteCount, MADV_HUGEPAGE)
        pointer = p
    }

    /// Memory an earlier `HugePageMemory` mapped (an `ActivationArena`'s block).
    init(adopting pointer: UnsafeMutableRawPointer, byteCount: Int) {
        self.pointer = pointer
        self.byteCount = byteCount
    }

    func release() { munmap(pointer, byteCount) }
}
