import NextGPTTokenizers

/// The ids of NExT-GPT's added tokens (`anyToImageVideoAudio.py` L187-237): `<Img>`, `</Img>` and
/// the three runs of signal tokens `[IMG0..3]`, `[VID0..23]`, `[AUD0..7]`, looked up by text in the
/// tokenizer's added tokens so any vocabulary size works.
public struct SignalTokens: Sendable, Equatable {
    public let imageStart: Int
    public let imageEnd: Int
    /// The run of each modality, in order (`[IMG0]`, `[IMG1]`, …).
    public let runs: [SignalModality: [Int]]

    public static let runLengths: [SignalModality: Int] = [.image: 4, .video: 24, .audio: 8]
    static let prefixes: [SignalModality: String] = [.image: "IMG", .video: "VID", .audio: "AUD"]

    public init(tokenizer: SentencePieceTokenizer) throws {
        var byText: [String: Int] = [:]
        for token in tokenizer.addedTokens { byText[token.text] = Int(token.id) }
        func id(_ text: String) throws -> Int {
            guard let id = byText[text] else {
                throw TokenizerError("NExT-GPT's added token \(text) is not in the tokenizer (was the delta converted?)")
            }
            return id
        }
        imageStart = try id("<Img>")
        imageEnd = try id("</Img>")
        var runs: [SignalModality: [Int]] = [:]
        for modality in SignalModality.allCases {
            let prefix = Self.prefixes[modality]!
            runs[modality] = try (0..<Self.runLengths[modality]!).map { try id("[\(prefix)\($0)]") }
        }
        self.runs = runs
    }

    /// The modality whose run starts with `id`.
    public func runStarting(with id: Int) -> SignalModality? {
        SignalModality.allCases.first { runs[$0]?.first == id }
    }

    /// Where each modality's first complete run starts in `ids` (upstream keeps only the first,
    /// `max_num_imgs = 1`).
    public func completeRuns(in ids: [Int]) -> [SignalModality: Int] {
        var found: [SignalModality: Int] = [:]
        for modality in SignalModality.allCases {
            let run = runs[modality]!
            guard ids.count >= run.count else { continue }
            if let start = (0...(ids.count - run.count)).first(where: { Array(ids[$0..<($0 + run.count)]) == run }) {
                found[modality] = start
            }
        }
        return found
    }
}
