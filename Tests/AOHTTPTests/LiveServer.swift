import AOHTTP
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// One answer as the client saw it.
struct Reply: Sendable {
    let status: Int
    let headers: [(String, String)]
    let body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var text: String { String(decoding: body, as: UTF8.self) }
    /// The body as JSON; a parse failure is a test failure with the body shown.
    var json: JSONValue {
        get throws {
            do { return try JSONValue.parse(body) } catch {
                throw TestFailure("body is not JSON (\(error)): \(text)")
            }
        }
    }
    /// `error.code` of an error answer.
    var errorCode: String? { (try? json)?["error"]?["code"]?.stringValue }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A live server on 127.0.0.1 (ephemeral port) and an AsyncHTTPClient to talk to it.
struct Live: Sendable {
    let client: HTTPClient
    let port: Int

    func request(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> Reply {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .init(rawValue: method)
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await client.execute(request, timeout: .seconds(20))
        let buffer = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                     body: Array(buffer.readableBytesView))
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Reply {
        try await request("GET", path, headers: headers)
    }

    func post(_ path: String, body: [UInt8], headers: [(String, String)] = []) async throws -> Reply {
        try await request("POST", path, headers: headers, body: body)
    }
}

func testSettings() -> HTTPServerSettings {
    var s = HTTPServerSettings()
    s.host = "127.0.0.1"
    s.port = 0
    s.submitRateLimit = nil
    s.dryRunRateLimit = nil
    return s
}

/// Starts `AOHTTPServer` for real (Hummingbird on NIO, bound to 127.0.0.1:0), runs `body`, then stops it.
func withLiveServer<T: Sendable>(_ node: ScriptedNode = ScriptedNode(), settings: HTTPServerSettings = testSettings(),
                                 _ body: @Sendable (Live) async throws -> T) async throws -> T {
    var logger = Logger(label: "aohttp.test")
    logger.logLevel = .critical
    let server = AOHTTPServer(queries: node, settings: settings, logger: logger)
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let app = server.application(onListening: { port in continuation.yield(port) })
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw TestFailure("server did not report a port") }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        do {
            let value = try await body(Live(client: client, port: port))
            try await client.shutdown()
            group.cancelAll()
            return value
        } catch {
            try? await client.shutdown()
            group.cancelAll()
            throw error
        }
    }
}

/// A plain TCP connection for what an HTTP client library will not do: stall mid-request, lie about lengths.
/// Blocking calls run on a dispatch queue so they never block Swift's cooperative threads.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { close(fd); throw TestFailure("connect() failed") }
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Reads until the server closes the connection or `timeoutSeconds` pass. Returns what arrived, whether the
    /// connection was closed (EOF or reset), and how long it took.
    func readUntilClosed(timeoutSeconds: Double) async -> (bytes: [UInt8], closed: Bool, seconds: Double) {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { [self] in
                let start = Date()
                var out: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 65536)
                var closed = false
                while true {
                    let remaining = timeoutSeconds - Date().timeIntervalSince(start)
                    if remaining <= 0 { break }
                    var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&pfd, 1, Int32(remaining * 1000))
                    if ready <= 0 { break }
                    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    if n > 0 { out.append(contentsOf: buffer[0..<n]); continue }
                    closed = true  // 0 = EOF, -1 = reset
                    break
                }
                continuation.resume(returning: (out, closed, Date().timeIntervalSince(start)))
            }
        }
    }
}
