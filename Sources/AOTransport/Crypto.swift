import AOCore
import CSodium

/// Thin wrappers over the libsodium primitives the transport uses. libsodium caveats repeated here (C13):
/// `sodium_init` must run before any call (done once below; idempotent and thread-safe); X25519 (`crypto_scalarmult`)
/// returns -1 when the shared point is all zeros (a small-order peer key) and we treat that as a failed handshake;
/// XChaCha20-Poly1305 nonces are 24 bytes and MUST never repeat under one key: we derive fresh keys per connection and
/// direction and use a counter, so they never do.
enum Sodium {
    static let ready: Bool = { sodium_init() >= 0 }()

    static let x25519KeyBytes = 32
    static let aeadKeyBytes = 32
    static let aeadNonceBytes = 24
    static let aeadTagBytes = 16

    /// The X25519 public key of a 32-byte secret scalar.
    static func x25519Public(_ secret: [UInt8]) -> [UInt8] {
        precondition(ready && secret.count == 32, "x25519 secret must be 32 bytes")
        var pub = [UInt8](repeating: 0, count: 32)
        _ = crypto_scalarmult_base(&pub, secret)
        return pub
    }

    /// X25519(secret, peer); nil for a small-order peer key (all-zero result).
    static func x25519(_ secret: [UInt8], _ peer: [UInt8]) -> [UInt8]? {
        precondition(ready && secret.count == 32 && peer.count == 32, "x25519 inputs must be 32 bytes")
        var out = [UInt8](repeating: 0, count: 32)
        guard crypto_scalarmult(&out, secret, peer) == 0 else { return nil }
        return out
    }

    /// BLAKE2b-256 keyed with `key` over `message`: the key-derivation function.
    static func kdf(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        precondition(ready)
        var out = [UInt8](repeating: 0, count: 32)
        _ = crypto_generichash(&out, 32, message, UInt64(message.count), key, key.count)
        return out
    }

    static func sha256(_ parts: [UInt8]...) -> [UInt8] {
        var all: [UInt8] = []
        for p in parts { all.append(contentsOf: p) }
        return SHA2.sha256(all)
    }

    /// 24-byte nonce: the counter big-endian in the first 8 bytes, zeros after.
    static func nonce(_ counter: UInt64) -> [UInt8] {
        var n = [UInt8](repeating: 0, count: 24)
        for i in 0..<8 { n[i] = UInt8(truncatingIfNeeded: counter >> UInt64(56 - 8 * i)) }
        return n
    }

    /// Seals `message` (small buffers; the handshake) and returns ciphertext‖tag.
    static func seal(key: [UInt8], counter: UInt64, ad: [UInt8], _ message: [UInt8]) -> [UInt8] {
        precondition(ready && key.count == 32)
        var out = [UInt8](repeating: 0, count: message.count + aeadTagBytes)
        var outLength: UInt64 = 0
        _ = crypto_aead_xchacha20poly1305_ietf_encrypt(&out, &outLength, message, UInt64(message.count), ad, UInt64(ad.count),
                                                       nil, nonce(counter), key)
        return out
    }

    /// Opens ciphertext‖tag; nil when authentication fails.
    static func open(key: [UInt8], counter: UInt64, ad: [UInt8], _ sealed: ArraySlice<UInt8>) -> [UInt8]? {
        precondition(ready && key.count == 32)
        guard sealed.count >= aeadTagBytes else { return nil }
        var out = [UInt8](repeating: 0, count: sealed.count - aeadTagBytes)
        var outLength: UInt64 = 0
        let ok = sealed.withUnsafeBufferPointer { c in
            crypto_aead_xchacha20poly1305_ietf_decrypt(&out, &outLength, nil, c.baseAddress!, UInt64(c.count), ad, UInt64(ad.count),
                                                       nonce(counter), key) == 0
        }
        return ok ? out : nil
    }
}

/// Raw XChaCha20-Poly1305 throughput, for the benchmark's baseline: seals `chunkBytes` in place `iterations` times
/// under one key. Returns the number of bytes sealed. (Exposed so the bench compares against exactly the primitive
/// the session uses.)
public enum AEADBaseline {
    public static func sealInPlace(chunkBytes: Int, iterations: Int) -> Int {
        precondition(Sodium.ready)
        let key = [UInt8](repeating: 7, count: 32)
        var buffer = [UInt8](repeating: 1, count: chunkBytes + Sodium.aeadTagBytes)
        let ad = [UInt8](repeating: 0, count: 12)
        var outLength: UInt64 = 0
        for i in 0..<iterations {
            let n = Sodium.nonce(UInt64(i))
            buffer.withUnsafeMutableBufferPointer { b in
                _ = crypto_aead_xchacha20poly1305_ietf_encrypt(b.baseAddress!, &outLength, b.baseAddress!, UInt64(chunkBytes),
                                                               ad, 12, nil, n, key)
            }
        }
        return chunkBytes * iterations
    }
}

/// What `SessionCipher.openRecordSplitting` opened.
public enum OpenedRecord: Sendable, Equatable {
    /// A frame decrypted in place; its payload is a slice of the record.
    case frame(PlainFrame)
    /// A data frame or stream chunk: `header` is the payload's small header (channel u16be, stream id u32be),
    /// `body` the bytes after it, decrypted into their own array.
    case split(type: FrameType, header: [UInt8], body: [UInt8])
}

/// The symmetric half of an established session: one key per direction, an explicit counter per record.
///
/// Record body after the handshake: `counter:u64be ‖ XChaCha20-Poly1305(key, nonce(counter), ad = length‖counter,
/// frame) ‖ tag`. The receiver checks the counter *before* decrypting, so a replayed record (old counter) and a
/// reordered one (counter ahead) get their own close reasons; any other change fails the tag (`.tamperedFrame`).
public struct SessionCipher: Sendable {
    private let sendKey: [UInt8]
    private let receiveKey: [UInt8]
    public private(set) var sendCounter: UInt64 = 0
    public private(set) var receiveCounter: UInt64 = 0

    public init(sendKey: [UInt8], receiveKey: [UInt8]) {
        precondition(sendKey.count == 32 && receiveKey.count == 32 && sendKey != receiveKey, "session keys must be distinct 32-byte keys")
        self.sendKey = sendKey; self.receiveKey = receiveKey
    }

    /// Bytes a sealed record adds around a frame of `frameBytes` (including the length prefix).
    public static func recordBytes(frameBytes: Int) -> Int { Wire.lengthPrefixBytes + Wire.sealOverheadBytes + frameBytes }

    /// A complete sealed record (length prefix included) for `type` with `header` then `body` as the payload.
    /// One allocation, encryption in place.
    public mutating func sealRecord(_ type: FrameType, header: [UInt8], body: UnsafeRawBufferPointer) -> [UInt8] {
        precondition(sendCounter < UInt64.max, "send counter exhausted")
        let frameBytes = Wire.frameHeaderBytes + header.count + body.count
        let recordBody = Wire.sealOverheadBytes + frameBytes
        var out = [UInt8]()
        out.reserveCapacity(Wire.lengthPrefixBytes + recordBody)
        FrameCodec.appendLength(recordBody, to: &out)
        FrameCodec.appendUInt64(sendCounter, to: &out)
        out.append(Wire.version); out.append(type.rawValue)
        out.append(contentsOf: header)
        out.append(contentsOf: body.assumingMemoryBound(to: UInt8.self))  // typed: a memcpy, not a byte loop
        out.append(contentsOf: [UInt8](repeating: 0, count: Sodium.aeadTagBytes))
        let nonce = Sodium.nonce(sendCounter)
        var outLength: UInt64 = 0
        out.withUnsafeMutableBufferPointer { b in
            let base = b.baseAddress!
            let ad = base  // length ‖ counter
            let m = base + Wire.lengthPrefixBytes + 8
            _ = crypto_aead_xchacha20poly1305_ietf_encrypt(m, &outLength, m, UInt64(frameBytes), ad, 12, nil, nonce, sendKey)
        }
        sendCounter += 1
        return out
    }

    public mutating func sealRecord(_ type: FrameType, header: [UInt8] = [], body: [UInt8] = []) -> [UInt8] {
        body.withUnsafeBytes { sealRecord(type, header: header, body: $0) }
    }

    /// Opens one record body like `openRecord`, but a data or stream-chunk frame's bytes after its small header
    /// (channel, stream id) are decrypted straight into their own array, which becomes the delivered payload: no
    /// copy out of the record. The tag is verified first over the whole record (libsodium's detached decrypt with
    /// no output only authenticates); then XChaCha20 (the same keystream the AEAD uses: block 0 keys Poly1305, the
    /// plaintext starts at block 1) decrypts the first block into a small buffer and the rest at block 2 onwards
    /// directly into the payload array. Control frames (and frames too short to split) are decrypted in place.
    /// Records shorter than `splitBytesMin` take the in-place path (for small frames one copy is cheaper than the
    /// extra keystream set-up).
    public mutating func openRecordSplitting(_ record: inout [UInt8], splitBytesMin: Int = 0) throws(TransportError) -> OpenedRecord {
        // Small records: the plain AEAD open (one libsodium call) and a copy of the payload are cheaper.
        if record.count - Wire.sealOverheadBytes < splitBytesMin { return .frame(try openRecord(&record)) }
        guard record.count >= Wire.sealOverheadBytes + Wire.frameHeaderBytes else {
            throw TransportError(.protocolViolation, "sealed record of \(record.count) bytes is shorter than its overhead")
        }
        let counter = FrameCodec.readUInt64(record, 0)
        if counter < receiveCounter { throw TransportError(.replayedFrame, "counter \(counter) already used (next is \(receiveCounter))") }
        if counter > receiveCounter { throw TransportError(.reorderedFrame, "counter \(counter) ahead of \(receiveCounter)") }
        var ad = [UInt8](); ad.reserveCapacity(12)
        FrameCodec.appendLength(record.count, to: &ad)
        FrameCodec.appendUInt64(counter, to: &ad)
        let nonce = Sodium.nonce(counter)
        let key = receiveKey
        let frameBytes = record.count - Wire.sealOverheadBytes  // ciphertext without the tag
        let authentic = record.withUnsafeBufferPointer { b in
            let c = b.baseAddress! + 8
            return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(nil, nil, c, UInt64(frameBytes), c + frameBytes, ad, 12, nonce, key) == 0
        }
        guard authentic else { throw TransportError(.tamperedFrame, "record \(counter) failed authentication") }
        receiveCounter += 1
        // XChaCha20 = ChaCha20 under the HChaCha20 subkey of the nonce's first 16 bytes, with its last 8 (zero here).
        var subkey = [UInt8](repeating: 0, count: 32)
        _ = crypto_core_hchacha20(&subkey, nonce, key, nil)
        let nonceTail = Array(nonce[16..<24])
        // The first keystream block of plaintext: the frame header, the small payload header, the first bytes.
        let firstBytes = min(Self.blockBytes, frameBytes)
        var first = [UInt8](repeating: 0, count: Self.blockBytes)
        record.withUnsafeBufferPointer { b in
            _ = crypto_stream_chacha20_xor_ic(&first, b.baseAddress! + 8, UInt64(firstBytes), nonceTail, 1, subkey)
        }
        let head = try FrameCodec.decodeFrame(first[0..<firstBytes])
        let skip: Int? = switch head.type {
        case .data where frameBytes >= Wire.frameHeaderBytes + Wire.dataHeaderBytes: Wire.frameHeaderBytes + Wire.dataHeaderBytes
        case .streamChunk where frameBytes > Wire.frameHeaderBytes + Wire.streamChunkHeaderBytes: Wire.frameHeaderBytes + Wire.streamChunkHeaderBytes
        default: nil
        }
        guard let skip else {
            record.withUnsafeMutableBufferPointer { b in
                let c = b.baseAddress! + 8
                _ = crypto_stream_chacha20_xor_ic(c, c, UInt64(frameBytes), nonceTail, 1, subkey)
            }
            return .frame(try FrameCodec.decodeFrame(record[8..<(8 + frameBytes)]))
        }
        let bodyBytes = frameBytes - skip
        let body = [UInt8](unsafeUninitializedCapacity: bodyBytes) { out, initialized in
            let fromFirst = firstBytes - skip
            for i in 0..<fromFirst { out[i] = first[skip + i] }
            if frameBytes > Self.blockBytes {
                record.withUnsafeBufferPointer { b in
                    _ = crypto_stream_chacha20_xor_ic(out.baseAddress! + fromFirst, b.baseAddress! + 8 + Self.blockBytes,
                                                      UInt64(frameBytes - Self.blockBytes), nonceTail, 2, subkey)
                }
            }
            initialized = bodyBytes
        }
        return .split(type: head.type, header: Array(first[Wire.frameHeaderBytes..<skip]), body: body)
    }

    /// ChaCha20 block size: the keystream unit `openRecordSplitting` works in.
    static let blockBytes = 64

    /// Opens one record body (as `RecordDecoder` returned it) in place, checking the counter, then the tag.
    /// `record` is overwritten with the plaintext; the returned frame's payload is a slice of it.
    public mutating func openRecord(_ record: inout [UInt8]) throws(TransportError) -> PlainFrame {
        guard record.count >= Wire.sealOverheadBytes + Wire.frameHeaderBytes else {
            throw TransportError(.protocolViolation, "sealed record of \(record.count) bytes is shorter than its overhead")
        }
        let counter = FrameCodec.readUInt64(record, 0)
        if counter < receiveCounter { throw TransportError(.replayedFrame, "counter \(counter) already used (next is \(receiveCounter))") }
        if counter > receiveCounter { throw TransportError(.reorderedFrame, "counter \(counter) ahead of \(receiveCounter)") }
        var ad = [UInt8](); ad.reserveCapacity(12)
        FrameCodec.appendLength(record.count, to: &ad)
        FrameCodec.appendUInt64(counter, to: &ad)
        let cipherBytes = record.count - 8
        var outLength: UInt64 = 0
        let nonce = Sodium.nonce(counter)
        let ok = record.withUnsafeMutableBufferPointer { b in
            let c = b.baseAddress! + 8
            return crypto_aead_xchacha20poly1305_ietf_decrypt(c, &outLength, nil, c, UInt64(cipherBytes), ad, 12, nonce, receiveKey) == 0
        }
        guard ok else { throw TransportError(.tamperedFrame, "record \(counter) failed authentication") }
        receiveCounter += 1
        return try FrameCodec.decodeFrame(record[8..<(8 + Int(outLength))])
    }
}
