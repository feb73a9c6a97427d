import Foundation
import NextGPTDiffusion
import NextGPTKernels
import NextGPTLayers
import NextGPTMedia
import NextGPTServer
import NextGPTSessions
import NextGPTTestSupport
import XCTest

/// Every endpoint of `nextgpt serve` on the tiny container over a loopback socket, its answers
/// checked against the sessions and pipelines called directly with the same settings.
final class ServerEndpointTests: XCTestCase {
    nonisolated(unsafe) static var shared: RunningServer?  // set up once, read by the tests on XCTest's thread

    override class func setUp() {
        shared = try? RunningServer(model: try TinyContainers.full)
    }

    override class func tearDown() {
        shared?.stop()
        shared = nil
    }

    func client() throws -> TestHTTPClient { try XCTUnwrap(Self.shared, "the server did not start").client }

    static let imageDataURL: String = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: "\(TestSupport.fixtures)/images/rgb8.png"))
        return "data:image/png;base64,\(data.base64EncodedString())"
    }()

    func testModelsHealthMetricsAndPage() throws {
        let client = try client()
        let models = try client.get("/v1/models")
        XCTAssertEqual(models.status, 200)
        let data = try XCTUnwrap(models.json["data"] as? [[String: Any]])
        XCTAssertEqual(data.map { $0["id"] as? String }, ["nextgpt", "sd15", "audioldm", "zeroscope"])
        XCTAssertEqual(data[0]["inputs"] as? [String], ["text", "image", "audio", "video"])
        XCTAssertEqual(data[0]["outputs"] as? [String], ["text", "image", "audio", "video"])
        XCTAssertEqual(data.map { $0["object"] as? String }, Array(repeating: "model", count: 4))

        let health = try client.get("/health")
        XCTAssertEqual(health.status, 200)
        XCTAssertEqual(health.json["status"] as? String, "ok")

        let metrics = try client.get("/metrics")
        XCTAssertEqual(metrics.status, 200)
        XCTAssertTrue(metrics.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        for name in ["nextgpt_queue_length 0", "nextgpt_tokens_per_second", "nextgpt_seconds_per_step", "nextgpt_resident_memory_bytes"] {
            XCTAssertTrue(metrics.text.contains(name), name)
        }
        let rss = try XCTUnwrap(metrics.text.split(separator: "\n").first { $0.hasPrefix("nextgpt_resident_memory_bytes ") })
        XCTAssertGreaterThan(Double(rss.split(separator: " ")[1]) ?? 0, 1e6)

        let page = try client.get("/")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.headers["content-type"], "text/html; charset=utf-8")
        XCTAssertTrue(page.text.contains("/v1/chat/completions"))
        XCTAssertTrue(page.text.contains("type=\"file\""))
        // Nothing fetched from elsewhere: no external script, style or font.
        XCTAssertFalse(page.text.contains("<script src"))
        XCTAssertFalse(page.text.contains("https://"))
    }

    /// The server's reply is the session's reply to the same turn, with NExT-GPT's sampling.
    func testChatReplyIsTheSessionsReply() throws {
        let answer = try client().post("/v1/chat/completions", json: [
            "model": "nextgpt", "messages": [["role": "user", "content": "Hello, who are you?"]], "max_tokens": 8,
        ])
        XCTAssertEqual(answer.status, 200, answer.text)
        XCTAssertEqual(answer.json["object"] as? String, "chat.completion")
        let choice = try XCTUnwrap((answer.json["choices"] as? [[String: Any]])?.first)
        let message = try XCTUnwrap(choice["message"] as? [String: Any])
        XCTAssertEqual(message["role"] as? String, "assistant")

        var request = NExTGPTRequest(text: "Hello, who are you?")
        request.generation.maxNewTokens = 8
        let direct = try NExTGPTSession(path: try TinyContainers.full, context: ExecutionContext(threads: 2)).run(request)
        XCTAssertEqual(message["content"] as? String, direct.reply.text)
        XCTAssertEqual(choice["finish_reason"] as? String, direct.reply.reason == .maxTokens ? "length" : "stop")
        let usage = try XCTUnwrap(answer.json["usage"] as? [String: Int])
        XCTAssertEqual(usage["completion_tokens"], direct.reply.ids.count)
        XCTAssertEqual(usage["total_tokens"], (usage["prompt_tokens"] ?? 0) + direct.reply.ids.count)
    }

    /// An image in, text plus an image and a sound out: the media are served files of the right kind and size.
    func testChatWithImageGivesServedMedia() throws {
        let client = try client()
        let answer = try client.post("/v1/chat/completions", json: [
            "messages": [["role": "user", "content": [
                ["type": "text", "text": "What is in this picture? Draw it and let me hear it."],
                ["type": "image_url", "image_url": ["url": Self.imageDataURL]],
            ]]],
            "max_tokens": 6, "force_outputs": ["image", "audio"],
            "image_options": ["num_inference_steps": 2, "height": 16, "width": 24],
            "audio_options": ["num_inference_steps": 2, "audio_length_in_s": 0.32],
        ])
        XCTAssertEqual(answer.status, 200, answer.text)
        let message = try XCTUnwrap(((answer.json["choices"] as? [[String: Any]])?.first)?["message"] as? [String: Any])
        let media = try XCTUnwrap(message["media"] as? [[String: Any]])
        XCTAssertEqual(media.map { $0["type"] as? String }, ["image", "audio"])
        XCTAssertEqual(media.map { $0["mime_type"] as? String }, ["image/png", "audio/wav"])

        let folder = try scratchDirectory("server-media")
        let imageURL = try XCTUnwrap(media[0]["url"] as? String)
        XCTAssertTrue(imageURL.hasPrefix("http://127.0.0.1:\(try XCTUnwrap(Self.shared).port)/files/"), imageURL)
        let png = try client.get(String(imageURL[imageURL.range(of: "/files/")!.lowerBound...]))
        XCTAssertEqual(png.status, 200)
        XCTAssertEqual(png.headers["content-type"], "image/png")
        try png.body.write(to: URL(fileURLWithPath: "\(folder)/image.png"))
        let image = try ImageFile.read(path: "\(folder)/image.png")
        XCTAssertEqual([image.width, image.height], [24, 16])
        // The name is 128 random bits: nothing to guess.
        XCTAssertEqual(URL(string: imageURL)!.deletingPathExtension().lastPathComponent.count, 32)

        let audioURL = try XCTUnwrap(media[1]["url"] as? String)
        let wav = try client.get(String(audioURL[audioURL.range(of: "/files/")!.lowerBound...]))
        XCTAssertEqual(wav.headers["content-type"], "audio/wav")
        try wav.body.write(to: URL(fileURLWithPath: "\(folder)/audio.wav"))
        let waveform = try AudioFile.read(path: "\(folder)/audio.wav")
        XCTAssertEqual(waveform.sampleRate, 16000)
        XCTAssertEqual(Double(waveform.frames) / 16000, 0.32, accuracy: 0.01)

        // The same turn with the media inline.
        let inline = try client.post("/v1/chat/completions", json: [
            "messages": [["role": "user", "content": [["type": "text", "text": "Draw it."], ["type": "image_url", "image_url": ["url": Self.imageDataURL]]]]],
            "max_tokens": 2, "force_outputs": ["image"], "media_format": "data_url",
            "image_options": ["num_inference_steps": 1, "height": 16, "width": 16],
        ])
        let inlineMedia = try XCTUnwrap(((inline.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["media"] as? [[String: Any]])
        let dataURL = try XCTUnwrap(inlineMedia.first?["url"] as? String)
        XCTAssertTrue(dataURL.hasPrefix("data:image/png;base64,iVBORw0KGgo"), String(dataURL.prefix(40)))
    }

    /// `stream: true`: the deltas add up to the whole reply, the last chunk carries the finish and the media, then [DONE].
    func testStreamedChatAddsUpToTheWholeReply() throws {
        let client = try client()
        let body: [String: Any] = ["messages": [["role": "user", "content": "Tell me a story."]], "max_tokens": 10, "seed": 3,
                                   "force_outputs": ["image"], "image_options": ["num_inference_steps": 2, "height": 16, "width": 16]]
        let whole = try client.post("/v1/chat/completions", json: body)
        let wholeText = try XCTUnwrap(((whole.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String)

        var streamed = body
        streamed["stream"] = true
        let answer = try client.post("/v1/chat/completions", json: streamed)
        XCTAssertEqual(answer.status, 200)
        XCTAssertEqual(answer.headers["content-type"], "text/event-stream")
        let events = answer.events
        XCTAssertEqual(events.last, "[DONE]")
        let chunks = try events.dropLast().map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertTrue(chunks.allSatisfy { $0["object"] as? String == "chat.completion.chunk" })
        XCTAssertEqual(Set(chunks.compactMap { $0["id"] as? String }).count, 1)
        let deltas = chunks.map { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any]) ?? [:] }
        XCTAssertEqual(deltas.first?["role"] as? String, "assistant")
        XCTAssertGreaterThan(deltas.count, 3)
        XCTAssertEqual(deltas.compactMap { $0["content"] as? String }.joined(), wholeText)
        let last = try XCTUnwrap(chunks.last)
        XCTAssertNotNil((last["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String)
        XCTAssertNotNil(last["usage"] as? [String: Int])
        XCTAssertEqual((deltas.last?["media"] as? [[String: Any]])?.first?["type"] as? String, "image")
        // Denoising progress travels as comments, which SSE clients skip.
        XCTAssertTrue(answer.text.contains(": progress denoising"))
    }

    /// The images endpoint gives what StableDiffusionPipeline gives for the same request.
    func testImagesMatchThePipeline() throws {
        let client = try client()
        let answer = try client.post("/v1/images/generations", json: [
            "prompt": "a red fox in the snow", "n": 2, "size": "24x16", "steps": 2, "seed": 5, "guidance_scale": 3.0,
            "negative_prompt": "blurry", "response_format": "b64_json",
        ])
        XCTAssertEqual(answer.status, 200, answer.text)
        XCTAssertEqual(answer.json["model"] as? String, "sd15")
        let data = try XCTUnwrap(answer.json["data"] as? [[String: Any]])
        XCTAssertEqual(data.count, 2)
        let folder = try scratchDirectory("server-images")
        let pipeline = try StableDiffusionPipeline(try ModelFile(path: try TinyContainers.full), pipeline: "sd15")
        for (index, item) in data.enumerated() {
            let png = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap(item["b64_json"] as? String)))
            try png.write(to: URL(fileURLWithPath: "\(folder)/\(index).png"))
            let served = try ImageFile.read(path: "\(folder)/\(index).png")
            var request = StableDiffusionRequest(prompt: "a red fox in the snow")
            (request.steps, request.seed, request.guidanceScale, request.negativePrompt, request.width, request.height) = (2, 5 + UInt64(index), 3, "blurry", 24, 16)
            let direct = try VaeImageProcessor.images(from: try pipeline.generate(request, context: ExecutionContext(threads: 2)).decoded)[0]
            XCTAssertEqual(served, direct, "image \(index) (seed \(5 + index))")
        }
        XCTAssertNotEqual(data[0]["b64_json"] as? String, data[1]["b64_json"] as? String)

        let linked = try client.post("/v1/images/generations", json: ["prompt": "a fox", "size": "16x16", "num_inference_steps": 1])
        let url = try XCTUnwrap((linked.json["data"] as? [[String: Any]])?.first?["url"] as? String)
        XCTAssertEqual(try client.get(String(url[url.range(of: "/files/")!.lowerBound...])).status, 200)
    }

    func testAudioAndVideoGenerations() throws {
        let client = try client()
        let folder = try scratchDirectory("server-av")
        let audio = try client.post("/v1/audio/generations", json: ["prompt": "a dog barking", "seconds": 0.32, "steps": 2, "seed": 1, "response_format": "b64_json"])
        XCTAssertEqual(audio.status, 200, audio.text)
        let wav = try XCTUnwrap(Data(base64Encoded: try XCTUnwrap((audio.json["data"] as? [[String: Any]])?.first?["b64_json"] as? String)))
        try wav.write(to: URL(fileURLWithPath: "\(folder)/a.wav"))
        let waveform = try AudioFile.read(path: "\(folder)/a.wav")
        XCTAssertEqual(Double(waveform.frames) / Double(waveform.sampleRate), 0.32, accuracy: 0.01)

        let video = try client.post("/v1/videos/generations", json: ["prompt": "waves", "size": "24x16", "frames": 3, "fps": 4, "steps": 2])
        XCTAssertEqual(video.status, 200, video.text)
        let item = try XCTUnwrap((video.json["data"] as? [[String: Any]])?.first)
        XCTAssertEqual(item["mime_type"] as? String, "video/mp4")
        let url = try XCTUnwrap(item["url"] as? String)
        let mp4 = try client.get(String(url[url.range(of: "/files/")!.lowerBound...]))
        XCTAssertEqual(mp4.headers["content-type"], "video/mp4")
        try mp4.body.write(to: URL(fileURLWithPath: "\(folder)/v.mp4"))
        let file = try VideoFile(path: "\(folder)/v.mp4")
        XCTAssertEqual([file.frameCount, file.width, file.height], [3, 24, 16])
        XCTAssertEqual(file.fps, 4)
    }

    /// Each bad request gets a 4xx JSON error naming the field.
    func testBadRequestsNameTheField() throws {
        let client = try client()
        let chat = "/v1/chat/completions"
        let hello: [[String: Any]] = [["role": "user", "content": "hi"]]
        let cases: [(path: String, body: Any, status: Int, param: String?)] = [
            (chat, ["messages": "hi"], 400, "messages"),
            (chat, ["messages": [] as [Any]], 400, "messages"),
            (chat, ["messages": [["role": "user"]]], 400, "messages[0].content"),
            (chat, ["messages": [["role": "robot", "content": "hi"]]], 400, "messages[0].role"),
            (chat, ["messages": hello, "temperature": "hot"], 400, "temperature"),
            (chat, ["messages": hello, "max_tokens": 0], 400, "max_tokens"),
            (chat, ["messages": hello, "model": "gpt-4o"], 404, "model"),
            (chat, ["messages": hello, "model": "sd15"], 404, "model"),
            (chat, ["messages": hello, "force_outputs": ["smell"]], 400, "force_outputs[0]"),
            (chat, ["messages": hello, "image_options": ["num_inference_steps": "many"]], 400, "image_options.num_inference_steps"),
            (chat, ["messages": hello, "video_options": ["num_inference_steps": 0]], 400, "video_options.num_inference_steps"),
            ("/v1/images/generations", ["prompt": "x", "steps": 1000], 400, "num_inference_steps"),
            (chat, ["messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "data:image/png;base64,iVBORw0KGgoAAAA"]]]]]], 400, "messages[0].content[0]"),
            (chat, ["messages": [["role": "user", "content": [["type": "image_url", "image_url": ["url": "https://example.com/cat.png"]]]]]], 400, "messages[0].content[0]"),
            (chat, ["messages": [["role": "user", "content": [["type": "hologram"]]]]], 400, "messages[0].content[0].type"),
            (chat, ["messages": [["role": "user", "content": [["type": "input_audio", "input_audio": ["data": "UklGRgAAAABXQVZF", "format": "wav"]]]]]], 400, "messages[0].content[0]"),
            (chat, ["messages": [["role": "user", "content": String(repeating: "hello world ", count: 200)]]], 400, "messages"),
            (chat, ["messages": hello, "max_tokens": 300], 400, "max_tokens"),
            ("/v1/images/generations", ["size": "16x16"], 400, "prompt"),
            ("/v1/images/generations", ["prompt": "x", "size": "huge"], 400, "size"),
            ("/v1/images/generations", ["prompt": "x", "n": 9], 400, "n"),
            ("/v1/images/generations", ["prompt": "x", "seed": -1], 400, "seed"),
            ("/v1/images/generations", ["prompt": "x", "scheduler": "lms"], 400, "scheduler"),
            ("/v1/images/generations", ["prompt": "x", "response_format": "jpeg"], 400, "response_format"),
            ("/v1/audio/generations", ["prompt": "x", "seconds": "long"], 400, "audio_length_in_s"),
            ("/v1/videos/generations", ["prompt": "x", "num_frames": 0], 400, "num_frames"),
        ]
        for (path, body, status, param) in cases {
            let answer = try client.post(path, json: body)
            let context = "\(path) \(String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self).prefix(120)) → \(answer.text)"
            XCTAssertEqual(answer.status, status, context)
            XCTAssertEqual(answer.headers["content-type"], "application/json", context)
            XCTAssertEqual(answer.error?["param"] as? String, param, context)
            XCTAssertFalse((answer.error?["message"] as? String ?? "").isEmpty, context)
        }
        let long = try client.post(chat, json: ["messages": [["role": "user", "content": String(repeating: "hello world ", count: 200)]]])
        XCTAssertEqual(long.error?["code"] as? String, "context_length_exceeded")
        let notJSON = try client.post(chat, raw: Data("{not json".utf8))
        XCTAssertEqual(notJSON.status, 400)
        XCTAssertNotNil(notJSON.error)
        // Names outside the store's pattern and names it never made are 404s, never other files.
        for path in ["/files/..%2F..%2Fetc%2Fpasswd", "/files/\(String(repeating: "ab", count: 16)).png", "/files/x.gguf"] {
            XCTAssertEqual(try client.get(path).status, 404, path)
        }
    }
}
