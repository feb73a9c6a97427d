import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking HTTP/1.1 client over a POSIX socket, so a test can read part of an answer and hang
/// up (what a browser's Stop does) and see every byte of a server-sent event stream.
struct TestHTTPClient {
    let port: Int

    struct Answer {
        var status: Int
        var headers: [String: String]
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
        /// OpenAI's error object, if the answer is one.
        var error: [String: Any]? { json["error"] as? [String: Any] }
    }

    /// A connection with the request sent; read it whole (`answer`) or in part, then `close`.
    final class Connection {
        let fd: Int32
        private(set) var received = Data()

        init(port: Int, request: Data) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestHTTPError("socket: \(errno)") }
            var timeout = timeval(tv_sec: 120, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { Glibc.close(fd); throw TestHTTPError("connect to port \(port): errno \(errno)") }
            var offset = 0
            try request.withUnsafeBytes { bytes in
                while offset < bytes.count {
                    let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                    guard n > 0 else { throw TestHTTPError("send: errno \(errno)") }
                    offset += n
                }
            }
        }

        /// Reads more; false at the end of the stream.
        @discardableResult
        func read() throws -> Bool {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n >= 0 else { throw TestHTTPError("recv: errno \(errno) (timed out?)") }
            received.append(contentsOf: buffer[0..<n])
            return n > 0
        }

        /// Reads until `text` has arrived.
        func read(until text: String) throws {
            while !String(decoding: received, as: UTF8.self).contains(text) {
                guard try read() else { throw TestHTTPError("the stream ended before '\(text)': \(String(decoding: received, as: UTF8.self))") }
            }
        }

        func answer() throws -> Answer {
            while try read() {}
            close()
            return try TestHTTPClient.parse(received)
        }

        func close() { Glibc.close(fd) }
    }

    func open(_ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:]) throws -> Connection {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        return try Connection(port: port, request: Data((head + "\r\n").utf8) + (body ?? Data()))
    }

    func get(_ path: String, headers: [String: String] = [:]) throws -> Answer { try open("GET", path, headers: headers).answer() }

    func post(_ path: String, json: Any, headers: [String: String] = [:]) throws -> Answer {
        try open("POST", path, body: try JSONSerialization.data(withJSONObject: json), headers: headers).answer()
    }

    func post(_ path: String, raw: Data, headers: [String: String] = [:]) throws -> Answer {
        try open("POST", path, body: raw, headers: headers).answer()
    }

    /// Status line, headers (names lower-cased), body with chunked transfer coding undone.
    static func parse(_ data: Data) throws -> Answer {
        guard let split = data.range(of: Data("\r\n\r\n".utf8)) else { throw TestHTTPError("no header end in \(String(decoding: data, as: UTF8.self))") }
        let lines = String(decoding: data[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = Data(data[split.upperBound...])
        if headers["transfer-encoding"] == "chunked" {
            var decoded = Data()
            var rest = body[...]
            while let line = rest.range(of: Data("\r\n".utf8)) {
                let size = Int(String(decoding: rest[..<line.lowerBound], as: UTF8.self), radix: 16) ?? 0
                if size == 0 { break }
                decoded += rest[line.upperBound..<(line.upperBound + size)]
                rest = rest[(line.upperBound + size + 2)...]
            }
            body = decoded
        }
        return Answer(status: status, headers: headers, body: body)
    }
}

extension TestHTTPClient.Answer {
    /// The `data:` payloads of a server-sent event stream, in order.
    var events: [String] {
        text.components(separatedBy: "\n\n").compactMap { $0.hasPrefix("data: ") ? String($0.dropFirst(6)) : nil }
    }
}
