import AOCore
import AOTransport
import AOTransportUV
import Foundation
import Glibc
import Logging

func key(_ n: UInt8) -> Ed25519PrivateKey { Ed25519PrivateKey(seed: [UInt8](repeating: n, count: 32))! }
let loopback = Endpoint(host: "127.0.0.1", port: 0)

/// Captures log lines in memory (C14: multi-node tests keep logs per node and show them on failure).
final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    func contains(_ needle: String) -> Bool { all.contains { $0.contains(needle) } }

    func logger(_ label: String) -> Logger {
        var l = Logger(label: label) { _ in CaptureHandler(capture: self) }
        l.logLevel = .debug
        return l
    }

    struct CaptureHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] } set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append("\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        }
    }
}

/// Consumes a transport's events on a task and keeps them for assertions.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [TransportEvent] = []
    let onFrame: (@Sendable (NodeID, Frame) -> Void)?
    let keepFrames: Bool

    init(_ transport: Transport, keepFrames: Bool = true, onFrame: (@Sendable (NodeID, Frame) -> Void)? = nil) {
        self.keepFrames = keepFrames
        self.onFrame = onFrame
        let stream = transport.events
        Task { [self] in
            for await e in stream {
                if case .frameReceived(let p, let f) = e {
                    self.onFrame?(p, f)
                    if !self.keepFrames { continue }
                }
                self.append(e)
            }
        }
    }
    private func append(_ e: TransportEvent) { lock.lock(); events.append(e); lock.unlock() }
    var all: [TransportEvent] { lock.lock(); defer { lock.unlock() }; return events }

    /// Polls until `predicate` holds over the events so far, or `seconds` pass.
    @discardableResult
    func wait(timeout seconds: Double = 10, _ predicate: ([TransportEvent]) -> Bool) async -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if predicate(all) { return true }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
        return predicate(all)
    }
}

func isConnected(_ peer: NodeID) -> ([TransportEvent]) -> Bool {
    { $0.contains { if case .connected(let p, _) = $0 { p == peer } else { false } } }
}

/// Waits until `check` is true (counters are published once per loop iteration).
func eventually(_ seconds: Double = 10, _ check: () -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if check() { return true }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    return check()
}

/// A misbehaving peer: a blocking POSIX socket driven by a pure `ConnectionCore`, so a test can send exactly the
/// bytes it wants (tampered, replayed, oversized, garbage) to a real `UVTransport`.
final class RawPeer {
    let fd: Int32
    var core: ConnectionCore

    init(port: UInt16, key: Ed25519PrivateKey = key(200), receiveBufferBytes: Int32? = nil) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        precondition(fd >= 0)
        if var rb = receiveBufferBytes { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, socklen_t(MemoryLayout<Int32>.size)) }
        var tv = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let sock = fd
        let rc = withUnsafePointer(to: &addr) { Glibc.connect(sock, UnsafeRawPointer($0).assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in>.size)) }
        precondition(rc == 0, "connect failed: \(errno)")
        var secret = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 { secret[i] = UInt8.random(in: 0...255) }
        core = ConnectionCore(role: .initiator, localKey: key, ephemeralSecret: secret)
    }
    deinit { Glibc.close(fd) }

    @discardableResult func write(_ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    /// Bytes from the socket; nil on end of stream, error or timeout.
    func read() -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? Array(buf[0..<n]) : nil
    }

    /// True when the server closed the connection (EOF or reset) within the receive timeout.
    func waitClosed() -> Bool {
        while true {
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    /// Runs the handshake as initiator; true when established.
    func handshake() -> Bool {
        for d in core.start() { if case .write(let b) = d { write(b) } }
        while !core.isEstablished {
            guard let bytes = read() else { return false }
            for d in core.onBytesReceived(bytes) {
                switch d {
                case .write(let b): write(b)
                case .close: return false
                default: break
                }
            }
        }
        return true
    }
}
