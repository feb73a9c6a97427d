import Foundation
import NextGPTKernels
import NextGPTLlama
import NextGPTServer
import NextGPTSessions
import NextGPTTestSupport
import XCTest

/// The queue, cancellation, keys, limits, and containers with only some components.
final class ServerLimitsTests: XCTestCase {
    /// Polls `/health` until `condition` holds (the server's state changes on other threads).
    func waitForHealth(_ client: TestHTTPClient, timeout: Double = 60, _ what: String, _ condition: ([String: Any]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition(try client.get("/health").json) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTFail("timed out waiting for \(what): \(try client.get("/health").text)")
    }

    func metric(_ client: TestHTTPClient, _ name: String) throws -> Double {
        let line = try XCTUnwrap(try client.get("/metrics").text.split(separator: "\n").first { $0.hasPrefix(name + " ") }, name)
        return try XCTUnwrap(Double(line.split(separator: " ")[1]))
    }

    /// One computes, one waits, the next is refused with 429 and Retry-After; the computing
    /// client hangs up, its run stops at the next step and the waiting one is served.
    func testFullQueueRefusesAndAGoneClientFreesTheModel() throws {
        let running = try RunningServer(model: try TinyContainers.full) { $0.maxQueue = 1 }
        defer { running.stop() }
        let client = running.client
        let slow = try JSONSerialization.data(withJSONObject: ["prompt": "a slow cat", "size": "16x16", "steps": 500])
        let computing = try client.open("POST", "/v1/images/generations", body: slow)
        try waitForHealth(client, "the slow request to compute") { $0["busy"] as? Bool == true }

        let waiting = DispatchGroup()
        // nonisolated(unsafe): written by the one async block, read only after `waiting.wait` returned.
        nonisolated(unsafe) var waitedAnswer: TestHTTPClient.Answer?
        DispatchQueue.global().async(group: waiting) {
            waitedAnswer = try? client.post("/v1/images/generations", json: ["prompt": "a quick cat", "size": "16x16", "steps": 1])
        }
        try waitForHealth(client, "the second request to queue") { $0["queue_length"] as? Int == 1 }

        let refused = try client.post("/v1/images/generations", json: ["prompt": "one too many", "size": "16x16", "steps": 1])
        XCTAssertEqual(refused.status, 429, refused.text)
        XCTAssertGreaterThanOrEqual(Int(refused.headers["retry-after"] ?? "") ?? 0, 1)
        XCTAssertEqual(refused.error?["code"] as? String, "queue_full")
        // A stream is refused before it answers 200.
        let refusedStream = try client.post("/v1/chat/completions", json: ["messages": [["role": "user", "content": "hi"]], "stream": true])
        XCTAssertEqual(refusedStream.status, 429, refusedStream.text)
        XCTAssertEqual(try metric(client, "nextgpt_rejected_total"), 2)

        computing.close()
        XCTAssertEqual(waiting.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(waitedAnswer?.status, 200, waitedAnswer?.text ?? "no answer")
        try waitForHealth(client, "the model to be free") { $0["busy"] as? Bool == false }
        XCTAssertEqual(try metric(client, "nextgpt_cancelled_total"), 1)
        // The slow run stopped long before its 500 steps (PNDM runs one more than asked).
        XCTAssertLessThan(try metric(client, "nextgpt_denoising_steps_total"), 250)
        XCTAssertTrue(try client.get("/metrics").text.contains("nextgpt_requests_total{endpoint=\"images\",status=\"499\"} 1"))
    }

    /// A streaming client that hangs up mid-way stops its run at the next denoising step.
    func testStreamingClientThatHangsUpCancelsItsRun() throws {
        let running = try RunningServer(model: try TinyContainers.full)
        defer { running.stop() }
        let client = running.client
        let body = try JSONSerialization.data(withJSONObject: [
            "messages": [["role": "user", "content": "Draw a very detailed cat."]], "max_tokens": 4, "stream": true,
            "force_outputs": ["image"], "image_options": ["num_inference_steps": 500, "height": 16, "width": 16],
        ] as [String: Any])
        let stream = try client.open("POST", "/v1/chat/completions", body: body)
        try stream.read(until: ": progress denoising")
        stream.close()
        try waitForHealth(client, "the run to stop") { $0["busy"] as? Bool == false }
        XCTAssertEqual(try metric(client, "nextgpt_cancelled_total"), 1)
        XCTAssertLessThan(try metric(client, "nextgpt_denoising_steps_total"), 250)
        // The model serves the next request.
        XCTAssertEqual(try client.post("/v1/images/generations", json: ["prompt": "next", "size": "16x16", "steps": 1]).status, 200)
    }

    func testStableDiffusionOnlyContainerDrawsButDoesNotChat() throws {
        let running = try RunningServer(model: try TinyContainers.sdOnly)
        defer { running.stop() }
        let client = running.client
        let models = try client.get("/v1/models").json["data"] as? [[String: Any]]
        XCTAssertEqual(models?.map { $0["id"] as? String }, ["sd15"])
        for (path, body) in [("/v1/chat/completions", ["messages": [["role": "user", "content": "hi"]]] as [String: Any]),
                             ("/v1/audio/generations", ["prompt": "a dog"]), ("/v1/videos/generations", ["prompt": "waves"])] {
            let answer = try client.post(path, json: body)
            XCTAssertEqual(answer.status, 404, "\(path): \(answer.text)")
            XCTAssertEqual(answer.error?["code"] as? String, "model_not_available", path)
            XCTAssertTrue((answer.error?["message"] as? String ?? "").contains("sd15.unet"), answer.text)
        }
        XCTAssertEqual(try client.post("/v1/images/generations", json: ["prompt": "a cat", "size": "16x16", "steps": 1]).status, 200)
    }

    /// A LLaMA without NExT-GPT's projections chats in Vicuna v0 turns, in text only.
    func testLanguageModelOnlyContainerChatsInText() throws {
        let path = try TinyContainers.llmOnly
        let running = try RunningServer(model: path)
        defer { running.stop() }
        let client = running.client
        XCTAssertEqual((try client.get("/v1/models").json["data"] as? [[String: Any]])?.map { $0["id"] as? String }, ["vicuna"])
        let answer = try client.post("/v1/chat/completions", json: ["messages": [["role": "user", "content": "Hello there"]], "max_tokens": 8, "seed": 2])
        XCTAssertEqual(answer.status, 200, answer.text)
        let content = ((answer.json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String

        let llm = try LlamaSession(LlamaSession.Options(path: path), context: ExecutionContext(threads: 2))
        let ids = llm.tokenizer.encode("### Human: Hello there\n### Assistant:", addBOS: true).map(Int.init)
        var sampling = SamplingParameters()
        sampling.seed = 2
        let direct = llm.generate([.tokens(ids)], generator: LlamaGenerator(model: llm.model, capacity: 64), maxNewTokens: 8,
                                  sampling: sampling, stops: ["###"])
        XCTAssertEqual(content, direct.text)

        let image = try Data(contentsOf: URL(fileURLWithPath: "\(TestSupport.fixtures)/images/rgb8.png")).base64EncodedString()
        let withImage = try client.post("/v1/chat/completions", json: ["messages": [["role": "user", "content": [
            ["type": "text", "text": "what is this"], ["type": "image_url", "image_url": ["url": "data:image/png;base64,\(image)"]]]]]])
        XCTAssertEqual(withImage.status, 400)
        XCTAssertEqual(withImage.error?["param"] as? String, "messages[0].content[1]")
        XCTAssertEqual(try client.post("/v1/images/generations", json: ["prompt": "a cat"]).status, 404)
    }

    func testAPIKeyAndUploadLimit() throws {
        let running = try RunningServer(model: try TinyContainers.full) {
            $0.apiKey = "sesame"
            $0.maxUploadBytes = 4096
        }
        defer { running.stop() }
        let client = running.client
        let denied = try client.get("/v1/models")
        XCTAssertEqual(denied.status, 401)
        XCTAssertEqual(denied.error?["code"] as? String, "invalid_api_key")
        XCTAssertEqual(try client.get("/v1/models", headers: ["Authorization": "Bearer wrong"]).status, 401)
        XCTAssertEqual(try client.get("/metrics").status, 401)
        XCTAssertEqual(try client.get("/v1/models", headers: ["Authorization": "Bearer sesame"]).status, 200)
        XCTAssertEqual(try client.get("/health").status, 200)
        XCTAssertEqual(try client.get("/").status, 200)

        let big = try client.post("/v1/chat/completions", json: ["messages": [["role": "user", "content": String(repeating: "x", count: 10000)]]],
                                  headers: ["Authorization": "Bearer sesame"])
        XCTAssertEqual(big.status, 413, big.text)
        XCTAssertEqual(big.error?["param"] as? String, "body")
        XCTAssertEqual(big.error?["code"] as? String, "upload_too_large")
    }

    /// Generated files leave past the age limit, and the oldest leave past the size limit.
    func testGeneratedFilesExpireAndMakeRoom() throws {
        let running = try RunningServer(model: try TinyContainers.full) {
            $0.mediaMaxBytes = 1  // room for the newest file only
            $0.mediaMaxAgeSeconds = 2
        }
        defer { running.stop() }
        let client = running.client
        func draw() throws -> String {
            let url = try XCTUnwrap((try client.post("/v1/images/generations", json: ["prompt": "a cat", "size": "16x16", "steps": 1]).json["data"]
                as? [[String: Any]])?.first?["url"] as? String)
            return String(url[url.range(of: "/files/")!.lowerBound...])
        }
        let first = try draw()
        XCTAssertEqual(try client.get(first).status, 200)
        let second = try draw()
        XCTAssertEqual(try client.get(first).status, 404, "the older file makes room")
        XCTAssertEqual(try client.get(second).status, 200)
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertEqual(try client.get(second).status, 404, "expired")
    }
}
