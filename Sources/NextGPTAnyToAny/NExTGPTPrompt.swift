/// Which ImageBind input a prompt tag names. All three are wrapped in `<Img>` … `</Img>` in the
/// LLM input (NEXTGPT.md §1.3: NExT-GPT added no `<Vid>`/`<Aud>` tokens).
public enum MediaKind: String, Sendable, CaseIterable {
    case image = "Image", audio = "Audio", video = "Video"
}

/// One piece of the LLM input `prepare_generation_embedding` builds, in order.
public enum PromptSegment: Equatable, Sendable {
    /// Tokenized without special tokens and preceded by its own BOS.
    case text(String)
    /// `[<Img>, Σ llama_proj(ImageBind(path)), </Img>]`: several paths in one tag are summed.
    case media(MediaKind, paths: [String])
}

/// The text side of NExT-GPT's prompt handling (`demo_app.py`, `prepare_generation_embedding`).
public enum NExTGPTPrompt {
    public static let assistantSuffix = "\n### Assistant:"

    /// The demo's text for a first turn: `### Human: ` + the media tags + ` ` + the user's text.
    public static func firstTurn(_ text: String, image: String? = nil, audio: String? = nil, video: String? = nil) -> String {
        var prompt = "### Human: "
        if let image { prompt += "<Image>\(image)</Image> " }
        if let audio { prompt += "<Audio>\(audio)</Audio> " }
        if let video { prompt += "<Video>\(video)</Video> " }
        return prompt + " " + text
    }

    /// The demo's text for a later turn: the history as `### Human: q\n### Assistant: a\n###` (the
    /// first exchange) and ` Human: q\n### Assistant: a\n###` (the next ones), then ` Human: `,
    /// the media tags and the text.
    public static func laterTurn(_ text: String, history: [(question: String, answer: String)],
                                 image: String? = nil, audio: String? = nil, video: String? = nil) -> String {
        var prompt = ""
        for (index, turn) in history.enumerated() {
            prompt += (index == 0 ? "### Human: " : " Human: ") + "\(turn.question)\n### Assistant: \(turn.answer)\n###"
        }
        prompt += " Human: "
        if let image { prompt += "<Image>\(image)</Image> " }
        if let audio { prompt += "<Audio>\(audio)</Audio> " }
        if let video { prompt += "<Video>\(video)</Video> " }
        return prompt + " " + text
    }

    /// How tags are found in a prompt.
    public enum Chunking: String, Sendable {
        /// Exactly upstream's: a tag right after another (`</Image> <Audio>`) loses its leading space
        /// to the previous split, keeps its `<`, and stays text.
        case upstream
        /// Upstream's, and such a `<Audio>…</Audio` chunk is media too: every item given is used.
        case everyTag
    }

    /// `re.split(r' <|> ', prompt + '\n### Assistant:')`, each chunk classified as upstream does:
    /// a chunk starting with `Image>` (`Audio>`, `Video>`) is media, its paths
    /// `re.findall(r'Image>(.*?)<\/Image', chunk)`; everything else is text. Where upstream would
    /// crash (a media chunk with no complete tag, #73), the chunk is text.
    public static func segments(_ prompt: String, chunking: Chunking = .upstream) -> [PromptSegment] {
        pythonSplit(prompt + assistantSuffix).map { chunk in
            for kind in MediaKind.allCases {
                let body = chunking == .everyTag && chunk.hasPrefix("<\(kind.rawValue)>") ? String(chunk.dropFirst()) : chunk
                guard body.hasPrefix(kind.rawValue + ">") else { continue }
                let paths = findAll(kind, in: body)
                return paths.isEmpty ? .text(chunk) : .media(kind, paths: paths)
            }
            return .text(chunk)
        }
    }

    /// Python's `re.split(r' <|> ', s)`: the leftmost match of either separator, scanning on.
    static func pythonSplit(_ s: String) -> [String] {
        let chars = Array(s)
        var chunks: [String] = [], start = 0, i = 0
        while i + 1 < chars.count {
            if (chars[i] == " " && chars[i + 1] == "<") || (chars[i] == ">" && chars[i + 1] == " ") {
                chunks.append(String(chars[start..<i]))
                i += 2
                start = i
            } else {
                i += 1
            }
        }
        chunks.append(String(chars[start...]))
        return chunks
    }

    /// `re.findall(r'Kind>(.*?)<\/Kind', chunk)`: `.` does not cross a newline.
    static func findAll(_ kind: MediaKind, in chunk: String) -> [String] {
        let open = Array(kind.rawValue + ">"), close = Array("</" + kind.rawValue)
        let chars = Array(chunk)
        var found: [String] = [], i = 0
        search: while i + open.count <= chars.count {
            guard Array(chars[i..<(i + open.count)]) == open else { i += 1; continue }
            var j = i + open.count
            while j + close.count <= chars.count {
                if Array(chars[j..<(j + close.count)]) == close {
                    found.append(String(chars[(i + open.count)..<j]))
                    i = j + close.count
                    continue search
                }
                if chars[j] == "\n" { break }
                j += 1
            }
            i += 1
        }
        return found
    }
}
