import Foundation
import Hummingbird
import NextGPTServerAPI

extension APIError {
    var response: Response {
        var response = JSONResponse.make(json, status: HTTPResponse.Status(status))
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

extension HTTPResponse.Status {
    /// The framework's status for a request check's code (its reason phrase included).
    init(_ status: HTTPStatusCode) {
        switch status {
        case .badRequest: self = .badRequest
        case .unauthorized: self = .unauthorized
        case .notFound: self = .notFound
        case .contentTooLarge: self = .contentTooLarge
        case .tooManyRequests: self = .tooManyRequests
        case .internalServerError: self = .internalServerError
        default: self = .init(code: status.code)
        }
    }
}

enum JSONResponse {
    static func make(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
