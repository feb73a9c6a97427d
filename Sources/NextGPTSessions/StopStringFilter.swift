/// Streams generated text while watching for stop strings (Vicuna v0's `###`): text is cut
/// before the first stop string, and text that could still become one is held back until the
/// next piece decides it.
///
/// Works on Unicode scalars rather than Characters: appending a scalar can merge it into the
/// previous Character (a combining mark), which would change counts of text already released.
public struct StopStringFilter: Sendable {
    public let stops: [String]
    private let stopScalars: [[Unicode.Scalar]]
    private var scalars: [Unicode.Scalar] = []
    private var released = 0
    /// The stop string that ended the text, once one appeared.
    public private(set) var stop: String?

    /// Empty stop strings are ignored.
    public init(stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }
        stopScalars = self.stops.map { Array($0.unicodeScalars) }
    }

    /// Everything seen so far, cut before the stop string once one appeared.
    public var text: String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars)
        return String(s)
    }

    public var isStopped: Bool { stop != nil }

    /// Adds a decoded piece; returns the text that is now safe to show (possibly empty). After a
    /// stop string appeared, further pieces are ignored.
    public mutating func push(_ piece: String) -> String {
        guard stop == nil else { return "" }
        scalars.append(contentsOf: piece.unicodeScalars)
        if let (index, start) = earliestStop() {
            stop = stops[index]
            scalars.removeSubrange(start...)
            return release(upTo: scalars.count)
        }
        return release(upTo: scalars.count - heldBack())
    }

    /// The end of the text (`tail`: what the decoder still held): releases what was held back.
    public mutating func finish(_ tail: String = "") -> String {
        let shown = push(tail)
        return stop == nil ? shown + release(upTo: scalars.count) : shown
    }

    private mutating func release(upTo end: Int) -> String {
        guard end > released else { return "" }
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars[released..<end])
        released = end
        return String(s)
    }

    /// The stop string starting earliest in the text (the first listed one on a tie), with its start.
    private func earliestStop() -> (Int, Int)? {
        var best: (Int, Int)?
        for (index, stop) in stopScalars.enumerated() {
            // Released text never ends in the start of a stop string (that part is held back).
            guard let start = firstOccurrence(of: stop, from: released) else { continue }
            if best == nil || start < best!.1 { best = (index, start) }
        }
        return best
    }

    private func firstOccurrence(of needle: [Unicode.Scalar], from: Int) -> Int? {
        guard scalars.count >= needle.count, from <= scalars.count - needle.count else { return nil }
        for start in from...(scalars.count - needle.count) where scalars[start] == needle[0] {
            if scalars[start..<(start + needle.count)].elementsEqual(needle) { return start }
        }
        return nil
    }

    /// Scalars at the end of the text that begin some stop string (its longest proper prefix there).
    private func heldBack() -> Int {
        var longest = 0
        for stop in stopScalars where stop.count > 1 {
            for length in stride(from: min(stop.count - 1, scalars.count), to: longest, by: -1)
            where scalars[(scalars.count - length)...].elementsEqual(stop[..<length]) {
                longest = length
                break
            }
        }
        return longest
    }
}
