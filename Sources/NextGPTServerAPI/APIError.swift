import Foundation
import NextGPTDiffusion

/// An HTTP status code. The request checks choose it; the server's framework answers it, so this
/// target needs no HTTP library (the fuzz package builds it with sanitizers).
package struct HTTPStatusCode: Sendable, Equatable {
    package let code: Int
    package init(code: Int) { self.code = code }

    package static let badRequest = HTTPStatusCode(code: 400)
    package static let unauthorized = HTTPStatusCode(code: 401)
    package static let notFound = HTTPStatusCode(code: 404)
    package static let contentTooLarge = HTTPStatusCode(code: 413)
    package static let tooManyRequests = HTTPStatusCode(code: 429)
    package static let internalServerError = HTTPStatusCode(code: 500)
}

/// An error answered as OpenAI's `{"error": {"message", "type", "param", "code"}}` with its HTTP status.
package struct APIError: Error, CustomStringConvertible {
    package var status: HTTPStatusCode
    package var message: String
    /// The request field at fault (`messages[1].content[0].image_url.url`), when there is one.
    package var param: String?
    package var type = "invalid_request_error"
    package var code: String?
    /// Seconds a client should wait before trying again (429, 503).
    package var retryAfter: Int?

    package init(status: HTTPStatusCode, message: String, param: String? = nil, type: String = "invalid_request_error", code: String? = nil,
                 retryAfter: Int? = nil) {
        (self.status, self.message, self.param, self.type, self.code, self.retryAfter) = (status, message, param, type, code, retryAfter)
    }

    package var description: String { "\(status.code) \(param.map { "\($0): " } ?? "")\(message)" }

}

extension APIError {
    package static func invalid(_ param: String?, _ message: String, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, param: param, code: code)
    }

    /// A component the container lacks: the endpoint exists but this container cannot serve it.
    package static func absent(_ what: String, param: String? = "model") -> APIError {
        APIError(status: .notFound, message: what, param: param, code: "model_not_available")
    }

    /// A `DecodingError` from the request body, naming the field as a JSON path.
    package init(_ error: DecodingError) {
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

    package static func kind(_ type: Any.Type) -> String {
        let name = String(describing: type)
        if name.hasPrefix("Array") { return "an array" }
        if name.hasPrefix("Dictionary") { return "an object" }
        return RequestArgumentError.kind(type)
    }

    /// A decoder request's argument error, its name under `prefix` (`image_options.`).
    package init(_ error: RequestArgumentError, prefix: String = "") {
        status = .badRequest
        param = error.argument.map { prefix + $0 }
        message = prefix.isEmpty ? error.description : "\(prefix.dropLast()): \(error.description)"
    }

    package var json: [String: Any] {
        ["error": ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()] as [String: Any]]
    }
}
