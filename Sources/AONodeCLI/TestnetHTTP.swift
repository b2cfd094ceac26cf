import AOTransport
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking HTTP/1.1 GET for the testnet commands' `/health`, `/peers` and `/processes/{id}/scheduler` calls to nodes
/// on loopback. Deliberately tiny (one request per connection, `Connection: close`, bounded body): the testnet verbs
/// run before and after the nodes' event loops exist, and need no client library.
enum LoopbackHTTP {
    struct Response: Equatable {
        var status: Int
        var body: [UInt8]
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body)) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Largest response body read (the testnet's routes answer a few KiB).
    static let responseBytesMax = 4 << 20

    /// `GET <baseURL><path>` where `baseURL` is `http://host:port`. Fails on connect errors, timeouts, bad responses.
    static func get(_ baseURL: String, _ path: String, timeoutSeconds: Double = 2) -> Result<Response, Failure> {
        guard baseURL.hasPrefix("http://"), let endpoint = Endpoint(parsing: String(baseURL.dropFirst(7).prefix { $0 != "/" })) else {
            return .failure(Failure(description: "not an http://host:port URL: \(baseURL)"))
        }
        return get(endpoint, path, timeoutSeconds: timeoutSeconds)
    }

    static func get(_ endpoint: Endpoint, _ path: String, timeoutSeconds: Double) -> Result<Response, Failure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(endpoint.host, String(endpoint.port), &hints, &info) == 0, let first = info else {
            return .failure(Failure(description: "cannot resolve \(endpoint.host)"))
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return .failure(Failure(description: "socket: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        // Connect with a timeout: non-blocking connect, then poll for writability.
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { return .failure(Failure(description: "connect \(endpoint): \(String(cString: strerror(errno)))")) }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&pfd, 1, Int32(timeoutSeconds * 1000)) == 1 else {
                return .failure(Failure(description: "connect \(endpoint): timed out"))
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { return .failure(Failure(description: "connect \(endpoint): \(String(cString: strerror(error)))")) }
        }
        _ = fcntl(fd, F_SETFL, flags)
        var timeout = timeval()
        timeout.tv_sec = .init(timeoutSeconds)
        timeout.tv_usec = .init((timeoutSeconds - Double(Int(timeoutSeconds))) * 1_000_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(endpoint)\r\nAccept: application/json\r\nConnection: close\r\n\r\n".utf8)
        var sent = 0
        while sent < request.count {
            #if os(Linux)
            let noSignal = Int32(MSG_NOSIGNAL)  // a closed peer is an error here, not a SIGPIPE
            #else
            let noSignal: Int32 = 0
            #endif
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, noSignal) }
            guard n > 0 else { return .failure(Failure(description: "send to \(endpoint): \(String(cString: strerror(errno)))")) }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while received.count <= responseBytesMax {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else {
                if errno == EINTR { continue }
                return .failure(Failure(description: "read from \(endpoint): \(errno == EAGAIN ? "timed out" : String(cString: strerror(errno)))"))
            }
            received += buffer[0..<n]
            if let response = parse(received, complete: false) { return .success(response) }
        }
        guard let response = parse(received, complete: true) else {
            return .failure(Failure(description: "\(endpoint) sent a malformed HTTP response"))
        }
        return .success(response)
    }

    /// Parses a response. With `complete: false` answers only once the body is complete by its `Content-Length` or
    /// chunked framing; with `complete: true` (EOF) a body without framing is whatever arrived.
    static func parse(_ bytes: [UInt8], complete: Bool) -> Response? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headerEnd = bytes.firstRange(of: separator) else { return nil }
        guard let head = String(bytes: bytes[..<headerEnd.lowerBound], encoding: .utf8) else { return nil }
        let lines = head.components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let body = Array(bytes[headerEnd.upperBound...])
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            guard let decoded = dechunk(body) else { return nil }
            return Response(status: status, body: decoded)
        }
        if let lengthText = headers["content-length"], let length = Int(lengthText) {
            guard body.count >= length else { return nil }
            return Response(status: status, body: Array(body.prefix(length)))
        }
        return complete ? Response(status: status, body: body) : nil
    }

    /// Decodes a complete chunked body; nil while it is incomplete.
    static func dechunk(_ body: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var i = 0
        while true {
            guard let lineEnd = body[i...].firstRange(of: [13, 10]) else { return nil }
            let sizeText = String(decoding: body[i..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return nil }
            i = lineEnd.upperBound
            if size == 0 { return out }
            guard body.count >= i + size + 2 else { return nil }
            out += body[i..<(i + size)]
            i += size + 2
        }
    }
}
