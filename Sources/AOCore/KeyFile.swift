import Foundation

/// A signing key loaded from, or written to, a JWK file: an ed25519 OKP key (RFC 8037: `kty: OKP`, `crv: Ed25519`,
/// `d` = 32-byte seed, `x` = public key) or an Arweave RSA wallet (`kty: RSA`, `n, e, d, p, q, dp, dq, qi`).
/// Key files are written with mode 0600 and never overwrite an existing file.
public enum KeyFile: Sendable {
    case ed25519(Ed25519PrivateKey)
    case arweave(ArweaveRSAKey)

    /// The key as a data-item signer (type 2 or type 1).
    public var signer: any DataItemSigner {
        switch self {
        case .ed25519(let k): k
        case .arweave(let k): k
        }
    }

    public var signatureType: SignatureType { signer.signatureType }
    /// base64url(SHA-256(owner)).
    public var address: Address { Address(raw: ID32(bytes: SHA2.sha256(signer.owner))!) }

    /// Loads a JWK file.
    public static func load(path: String) throws(KeyError) -> KeyFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw KeyError.unreadable.with(path) }
        return try parse(jwk: [UInt8](data))
    }

    /// Parses a JWK (JSON text). Unknown members (`ext`, `kid`, ...) are ignored.
    public static func parse(jwk: [UInt8]) throws(KeyError) -> KeyFile {
        let object: [String: Any]
        do {
            guard let o = try JSONSerialization.jsonObject(with: Data(jwk)) as? [String: Any] else { throw KeyError.notJSON }
            object = o
        } catch { throw KeyError.notJSON }
        func field(_ name: String) throws(KeyError) -> [UInt8] {
            guard let text = object[name] as? String, let bytes = Base64URL.decode(text), !bytes.isEmpty else {
                throw KeyError.badParameter.with("missing or invalid \"\(name)\"")
            }
            return bytes
        }
        switch object["kty"] as? String {
        case "OKP":
            guard object["crv"] as? String == "Ed25519" else { throw KeyError.unsupportedKeyType.with("OKP curve \(object["crv"] ?? "none")") }
            let d = try field("d")
            guard let key = Ed25519PrivateKey(seed: d) else { throw KeyError.badParameter.with("\"d\" must be a 32-byte seed") }
            if object["x"] != nil, try field("x") != key.publicKey {
                throw KeyError.badParameter.with("\"x\" does not match the public key derived from \"d\"")
            }
            return .ed25519(key)
        case "RSA":
            do {
                return .arweave(try ArweaveRSAKey(n: try field("n"), e: try field("e"), d: try field("d"), p: try field("p"),
                                                  q: try field("q"), dp: try field("dp"), dq: try field("dq"), qi: try field("qi")))
            } catch let e as KeyError { throw e } catch { throw KeyError.badParameter.with("\(error)") }
        case let other:
            throw KeyError.unsupportedKeyType.with("kty \(other ?? "missing")")
        }
    }

    /// The JWK JSON text (members sorted, so the output is deterministic).
    public func jwk() -> [UInt8] {
        var object: [String: String]
        switch self {
        case .ed25519(let k):
            object = ["kty": "OKP", "crv": "Ed25519", "d": Base64URL.encode(k.seed), "x": Base64URL.encode(k.publicKey)]
        case .arweave(let k):
            let p = k.parameters
            object = ["kty": "RSA", "n": Base64URL.encode(p.n), "e": Base64URL.encode(p.e), "d": Base64URL.encode(p.d),
                      "p": Base64URL.encode(p.p), "q": Base64URL.encode(p.q), "dp": Base64URL.encode(p.dp),
                      "dq": Base64URL.encode(p.dq), "qi": Base64URL.encode(p.qi)]
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return [UInt8](data) + [0x0a]
    }

    /// Writes the JWK to a new file with mode 0600 (owner read/write only). Refuses to overwrite an existing file.
    public func write(path: String) throws(KeyError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw (errno == EEXIST ? KeyError.exists : KeyError.writeFailed).with("\(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        _ = fchmod(fd, 0o600)  // whatever the umask
        let bytes = jwk()
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else { throw KeyError.writeFailed.with(path) }
    }
}

/// Why a key file could not be read, parsed or written. Equality compares the case only.
public struct KeyError: Error, Hashable, Sendable, CustomStringConvertible {
    enum Kind: String, Sendable { case unreadable, notJSON, unsupportedKeyType, badParameter, exists, writeFailed }
    let kind: Kind
    public let detail: String
    init(_ kind: Kind, _ detail: String = "") { self.kind = kind; self.detail = detail }
    func with(_ detail: String) -> KeyError { KeyError(kind, detail) }
    public static func == (l: KeyError, r: KeyError) -> Bool { l.kind == r.kind }
    public func hash(into h: inout Hasher) { h.combine(kind) }
    public var code: String { kind.rawValue }

    /// The file does not exist or cannot be read.
    public static let unreadable = KeyError(.unreadable)
    /// The file is not a JSON object.
    public static let notJSON = KeyError(.notJSON)
    /// The JWK is neither an Ed25519 OKP key nor an RSA key.
    public static let unsupportedKeyType = KeyError(.unsupportedKeyType)
    /// A JWK member is missing, not base64url, or inconsistent (e.g. `x` not matching `d`, RSA not 4096-bit/65537).
    public static let badParameter = KeyError(.badParameter)
    /// The output file already exists (key files are never overwritten).
    public static let exists = KeyError(.exists)
    /// Writing the key file failed.
    public static let writeFailed = KeyError(.writeFailed)

    public var description: String {
        let base: String
        switch kind {
        case .unreadable: base = "cannot read the key file"
        case .notJSON: base = "the key file is not a JSON object (JWK)"
        case .unsupportedKeyType: base = "unsupported key type (want an Ed25519 OKP or an Arweave RSA JWK)"
        case .badParameter: base = "bad key parameter"
        case .exists: base = "the key file already exists; refusing to overwrite it"
        case .writeFailed: base = "cannot write the key file"
        }
        return detail.isEmpty ? base : "\(base): \(detail)"
    }
}
