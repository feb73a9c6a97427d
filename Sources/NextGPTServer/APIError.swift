import Foundation
import Hummingbird
import NextGPTDiffusion

/// An error answered as OpenAI's `{"error": {"message", "type", "param", "code"}}` with its HTTP status.
struct APIError: Error, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String
    /// The request field at fault (`messages[1].content[0].image_url.url`), when there is one.
    var param: String?
    var type = "invalid_request_error"
    var code: String?
    /// Seconds a client should wait before trying again (429, 503).
    var retryAfter: Int?

    var description: String { "\(status.code) \(param.map { "\($0): " } ?? "")\(message)" }

}

extension APIError {
    static func invalid(_ param: String?, _ message: String, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, param: param, code: code)
    }

    /// A component the container lacks: the endpoint exists but this container cannot serve it.
    static func absent(_ what: String, param: String? = "model") -> APIError {
        APIError(status: .notFound, message: what, param: param, code: "model_not_available")
    }

    /// A `DecodingError` from the request body, naming the field as a JSON path.
    init(_ error: DecodingError) {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { path, key in
                if let index = key.intValue { return path + "[\(index)]" }
                return path.isEmpty ? key.stringValue : path + "." + key.stringValue
            }
        }
        status = .badRequest
        switch error {
        case .keyNotFound(let key, let context):
            param = path(context.codingPath + [key])
            message = "'\(param!)' is required"
        case .typeMismatch(let type, let context):
            param = path(context.codingPath)
            message = "'\(param!)' must be \(Self.kind(type))"
        case .valueNotFound(let type, let context):
            param = path(context.codingPath)
            message = "'\(param!)' must be \(Self.kind(type)), got null"
        case .dataCorrupted(let context) where !context.codingPath.isEmpty:
            param = path(context.codingPath)
            message = "'\(param!)': \(context.debugDescription)"
        case .dataCorrupted:
            message = "the body is not a JSON object"
        @unknown default:
            message = "\(error)"
        }
    }

    static func kind(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.hasPrefix("Array") { return "an array" }
        if name.hasPrefix("Dictionary") { return "an object" }
        return RequestArgumentError.kind(type)
    }

    /// A decoder request's argument error, its name under `prefix` (`image_options.`).
    init(_ error: RequestArgumentError, prefix: String = "") {
        status = .badRequest
        param = error.argument.map { prefix + $0 }
        message = prefix.isEmpty ? error.description : "\(prefix.dropLast()): \(error.description)"
    }

    var json: [String: Any] {
        ["error": ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()] as [String: Any]]
    }

    var response: Response {
        var response = JSONResponse.make(json, status: status)
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

enum JSONResponse {
    static func make(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
