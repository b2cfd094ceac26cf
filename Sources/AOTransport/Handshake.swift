import AOCore

/// The authenticated key exchange that opens every connection: a three-message, Noise-XX-shaped exchange in which
/// ed25519 node keys *sign* the transcript (SIGMA-I style) instead of doing static DH, because node keys are ed25519
/// signing keys (NodeID = SHA-256 of the public key) and converting them to X25519 would tie the two uses together.
///
/// ```
/// h0 = SHA-256("aonode/transport/1" ‖ prologue)                 prologue: the network id, so networks never mix
/// 1. I → R  hello       e_I                                    h1 = H(h0 ‖ e_I)
/// 2. R → I  helloReply  e_R ‖ AEAD(k, 0, ad = h2a, s_R ‖ sig_R)  h2a = H(h1 ‖ e_R); k = BLAKE2b(key: X25519(e,e'), "hs" ‖ h2a)
///           sig_R = Ed25519(s_R, "aonode/responder" ‖ h2a)      h2 = H(h2a ‖ ciphertext)
/// 3. I → R  helloFinish AEAD(k, 1, ad = h2, s_I ‖ sig_I)        sig_I = Ed25519(s_I, "aonode/initiator" ‖ h2)
///                                                              h3 = H(h2 ‖ ciphertext)
/// session: k_I→R = BLAKE2b(key: dh, "i2r" ‖ h3), k_R→I = BLAKE2b(key: dh, "r2i" ‖ h3)
/// ```
/// Why it resists the attacks the issue names:
/// - *Replay*: each side's signature covers both fresh ephemeral keys; a recorded message 2 or 3 signs an old
///   transcript and fails against a new ephemeral key. Session keys are fresh per connection (ephemeral DH).
/// - *Reflection*: signatures carry the signer's role, so a responder's signature never verifies as an initiator's;
///   a peer presenting our own node key or our own ephemeral key is refused (`.selfConnection`).
/// - *Identity*: a dialer that expects a NodeID refuses any other key (`.unexpectedPeer`) before sending its own
///   identity.
///
/// Pure: the ephemeral secret is an input (the shell draws it from libsodium's CSPRNG; tests pass fixed bytes), and
/// the state machine returns directives. Each `on…` method MUST be invoked with the next handshake frame from the
/// peer; its directives MUST be executed in order.
public struct Handshake: Sendable {
    public enum Role: Sendable { case initiator, responder }

    /// What the handshake asks of its shell.
    public enum Directive: Sendable, Equatable {
        /// Write this complete plaintext record to the peer.
        case send([UInt8])
        /// The peer is authenticated; switch the connection to `cipher`.
        case established(HandshakeResult)
    }

    private enum State: Sendable { case start, awaitingReply, awaitingHello, awaitingFinish, done, failed }

    public let role: Role
    private let localKey: Ed25519PrivateKey
    private let ephemeralSecret: [UInt8]
    private let ephemeralPublic: [UInt8]
    private let expectedPeer: NodeID?
    private var state: State
    private var hash: [UInt8]
    private var dh: [UInt8] = []
    private var handshakeKey: [UInt8] = []
    private var peerPublicKey: [UInt8] = []

    static let protocolName: [UInt8] = Array("aonode/transport/1".utf8)
    static let responderLabel: [UInt8] = Array("aonode/responder".utf8)
    static let initiatorLabel: [UInt8] = Array("aonode/initiator".utf8)
    /// Size of the sealed identity: ed25519 public key + signature + tag.
    static let sealedIdentityBytes = 32 + 64 + 16

    /// - Parameters:
    ///   - ephemeralSecret: 32 fresh random bytes, never reused (X25519 scalar).
    ///   - expectedPeer: for a dialer that knows whom it dials; nil accepts any authenticated key.
    ///   - prologue: bytes both sides must agree on (the network id).
    public init(role: Role, localKey: Ed25519PrivateKey, ephemeralSecret: [UInt8], expectedPeer: NodeID? = nil, prologue: [UInt8] = []) {
        precondition(ephemeralSecret.count == 32, "ephemeral secret must be 32 bytes")
        self.role = role
        self.localKey = localKey
        self.ephemeralSecret = ephemeralSecret
        self.ephemeralPublic = Sodium.x25519Public(ephemeralSecret)
        self.expectedPeer = role == .initiator ? expectedPeer : nil
        self.state = role == .initiator ? .start : .awaitingHello
        self.hash = Sodium.sha256(Handshake.protocolName, prologue)
    }

    public var isComplete: Bool { if case .done = state { true } else { false } }

    /// MUST be invoked once by the initiator when the socket connects: returns message 1.
    public mutating func start() -> [Directive] {
        precondition(role == .initiator && state == .start, "start() is for a fresh initiator (state \(state))")
        hash = Sodium.sha256(hash, ephemeralPublic)
        state = .awaitingReply
        return [.send(FrameCodec.plainRecord(.hello, ephemeralPublic))]
    }

    /// MUST be invoked with each plaintext frame received before the handshake completes.
    public mutating func onFrame(_ frame: PlainFrame) throws(TransportError) -> [Directive] {
        do throws(TransportError) {
            switch (state, frame.type) {
            case (.awaitingHello, .hello): return try onHello(frame.payload)
            case (.awaitingReply, .helloReply): return try onHelloReply(frame.payload)
            case (.awaitingFinish, .helloFinish): return try onHelloFinish(frame.payload)
            default:
                throw TransportError(.protocolViolation, "frame \(frame.type) out of place during the handshake (\(state))")
            }
        } catch {
            state = .failed
            throw error
        }
    }

    private mutating func onHello(_ p: ArraySlice<UInt8>) throws(TransportError) -> [Directive] {
        guard p.count == 32 else { throw TransportError(.protocolViolation, "hello of \(p.count) bytes, expected 32") }
        let peerEphemeral = Array(p)
        guard peerEphemeral != ephemeralPublic else { throw TransportError(.selfConnection, "hello carries our own ephemeral key") }
        hash = Sodium.sha256(hash, peerEphemeral)
        hash = Sodium.sha256(hash, ephemeralPublic)  // h2a
        try deriveHandshakeKey(peerEphemeral)
        var identity = localKey.publicKey
        identity += localKey.sign(Handshake.responderLabel + hash)
        let sealed = Sodium.seal(key: handshakeKey, counter: 0, ad: hash, identity)
        hash = Sodium.sha256(hash, sealed)  // h2
        state = .awaitingFinish
        return [.send(FrameCodec.plainRecord(.helloReply, ephemeralPublic + sealed))]
    }

    private mutating func onHelloReply(_ p: ArraySlice<UInt8>) throws(TransportError) -> [Directive] {
        guard p.count == 32 + Handshake.sealedIdentityBytes else {
            throw TransportError(.protocolViolation, "helloReply of \(p.count) bytes, expected \(32 + Handshake.sealedIdentityBytes)")
        }
        let peerEphemeral = Array(p.prefix(32))
        guard peerEphemeral != ephemeralPublic else { throw TransportError(.selfConnection, "helloReply carries our own ephemeral key") }
        hash = Sodium.sha256(hash, peerEphemeral)  // h2a
        try deriveHandshakeKey(peerEphemeral)
        let sealed = p.dropFirst(32)
        let peerKey = try openIdentity(sealed, counter: 0, label: Handshake.responderLabel)
        if let expectedPeer, Handshake.nodeID(of: peerKey) != expectedPeer {
            throw TransportError(.unexpectedPeer, "expected \(expectedPeer), peer is \(Handshake.nodeID(of: peerKey))")
        }
        hash = Sodium.sha256(hash, Array(sealed))  // h2
        var identity = localKey.publicKey
        identity += localKey.sign(Handshake.initiatorLabel + hash)
        let sealedOut = Sodium.seal(key: handshakeKey, counter: 1, ad: hash, identity)
        hash = Sodium.sha256(hash, sealedOut)  // h3
        peerPublicKey = peerKey
        state = .done
        return [.send(FrameCodec.plainRecord(.helloFinish, sealedOut)), .established(result())]
    }

    private mutating func onHelloFinish(_ p: ArraySlice<UInt8>) throws(TransportError) -> [Directive] {
        guard p.count == Handshake.sealedIdentityBytes else {
            throw TransportError(.protocolViolation, "helloFinish of \(p.count) bytes, expected \(Handshake.sealedIdentityBytes)")
        }
        peerPublicKey = try openIdentity(p, counter: 1, label: Handshake.initiatorLabel)
        hash = Sodium.sha256(hash, Array(p))  // h3
        state = .done
        return [.established(result())]
    }

    private mutating func deriveHandshakeKey(_ peerEphemeral: [UInt8]) throws(TransportError) {
        guard let shared = Sodium.x25519(ephemeralSecret, peerEphemeral) else {
            throw TransportError(.handshakeFailed, "small-order ephemeral key")
        }
        dh = shared
        handshakeKey = Sodium.kdf(key: dh, Array("hs".utf8) + hash)
    }

    /// Opens a sealed identity and verifies its signature over the current transcript hash.
    private func openIdentity(_ sealed: ArraySlice<UInt8>, counter: UInt64, label: [UInt8]) throws(TransportError) -> [UInt8] {
        guard let identity = Sodium.open(key: handshakeKey, counter: counter, ad: hash, sealed) else {
            throw TransportError(.handshakeFailed, "sealed identity failed authentication (wrong transcript or tampered)")
        }
        let key = Array(identity[0..<32]), signature = Array(identity[32..<96])
        guard key != localKey.publicKey else { throw TransportError(.selfConnection, "peer presents our own node key") }
        guard Ed25519.verify(signature: signature, message: label + hash, publicKey: key) else {
            throw TransportError(.handshakeFailed, "transcript signature does not verify")
        }
        return key
    }

    private func result() -> HandshakeResult {
        let i2r = Sodium.kdf(key: dh, Array("i2r".utf8) + hash)
        let r2i = Sodium.kdf(key: dh, Array("r2i".utf8) + hash)
        let cipher = role == .initiator ? SessionCipher(sendKey: i2r, receiveKey: r2i) : SessionCipher(sendKey: r2i, receiveKey: i2r)
        return HandshakeResult(peer: Handshake.nodeID(of: peerPublicKey), peerPublicKey: peerPublicKey, transcriptHash: hash, cipher: cipher)
    }

    public static func nodeID(of publicKey: [UInt8]) -> NodeID { NodeID(bytes: SHA2.sha256(publicKey))! }
}

/// A completed handshake: who the peer is, and the session cipher to use from the next record on.
public struct HandshakeResult: Sendable, Equatable {
    public let peer: NodeID
    public let peerPublicKey: [UInt8]
    /// h3: equal on both sides of one connection, different for every connection.
    public let transcriptHash: [UInt8]
    public let cipher: SessionCipher
    public static func == (l: Self, r: Self) -> Bool { l.peer == r.peer && l.transcriptHash == r.transcriptHash }
}
