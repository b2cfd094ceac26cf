import AOCore
import Foundation

/// A light client: asks several nodes for the result of a message and checks what they say against signed result
/// attestations (`ResultAttestation`, DESIGN.md §6) instead of trusting any one node.
///
/// For each node it fetches `GET /` (the node's id), `GET /result/{message}` and `GET /attestation/{message}` (the
/// attestations the node holds, its own and collected ones, plus the bytes `handle` returned when the node kept
/// them). The verdict is computed by the pure `agreement(...)`:
///
/// 1. An attestation counts only if its signature verifies, it is about the asked (process, message), and its signer
///    is trusted (when a trusted set is given: the network configuration's admitted schedulers). A signer that
///    signed two different claims for the same message is an equivocator: none of its attestations count.
/// 2. A claim is (slot, result hash, memory hash). Each distinct counting signer is one vote for its claim, no matter
///    which node relayed the attestation (a signature is the signer's word wherever it was found).
/// 3. The quorum is met when exactly one claim has at least `quorum` votes.
/// 4. Each node's own claim: when it served the `handle` bytes, their SHA-256 must be the result hash of an
///    attestation signed by the node itself, and its `/result` body must say the same thing as those bytes
///    (Output, Messages, Spawns, Assignments; an Error when `handle` failed). When it did not serve the bytes, its
///    claim is its own attestation and its `/result` body is reported as unchecked. A node "agrees" when its claim is
///    the quorum's.
public enum LightClient {
    /// At most this many attestations are read from one node's answer (a hostile node cannot make us verify
    /// millions of signatures).
    public static let attestationsPerNodeMax = 256

    /// Queries every node concurrently and reports agreement. Never throws for a node's failure: it is reported in
    /// that node's verdict.
    public static func verifiedResult(nodes: [URL], message: MessageID, process: ProcessID, quorum: Int,
                                      trusted: Set<NodeID>?, timeout: Duration = .seconds(30)) async -> AgreementReport {
        let observations = await withTaskGroup(of: (Int, NodeObservation).self) { group in
            for (i, url) in nodes.enumerated() {
                group.addTask {
                    (i, await observe(NodeClient(baseURL: url, timeout: timeout), message: message, process: process))
                }
            }
            var out: [(Int, NodeObservation)] = []
            for await o in group { out.append(o) }
            return out.sorted { $0.0 < $1.0 }.map(\.1)
        }
        return agreement(observations: observations, message: message, process: process, quorum: quorum, trusted: trusted)
    }

    /// The node ids of admitted ed25519 public keys (e.g. `NetworkConfiguration`'s schedulers). Keys that are not
    /// 32 bytes are skipped.
    public static func nodeIDs(publicKeys: [[UInt8]]) -> Set<NodeID> {
        Set(publicKeys.filter { $0.count == 32 }.map { NodeID(raw: ID32(bytes: SHA2.sha256($0))!) })
    }

    /// What one node answered (errors kept as text).
    public static func observe(_ client: NodeClient, message: MessageID, process: ProcessID) async -> NodeObservation {
        var o = NodeObservation(node: client.baseURL)
        do { o.nodeID = try await client.schedulerInfo().nodeID } catch { o.errors.append("\(error)") }
        do { o.resultBody = try await client.result(message: message, process: process).bytes } catch { o.errors.append("\(error)") }
        do {
            let set = try await client.attestations(message: message, process: process)
            o.attestations = set.attestations
            o.malformed = set.malformed
            o.resultBytes = set.resultBytes
        } catch { o.errors.append("\(error)") }
        return o
    }

    /// The verdict over what the nodes answered (pure: no I/O).
    public static func agreement(observations: [NodeObservation], message: MessageID, process: ProcessID, quorum: Int,
                                 trusted: Set<NodeID>?) -> AgreementReport {
        precondition(quorum >= 1, "quorum must be at least 1, got \(quorum)")
        var report = AgreementReport(quorum: quorum, trustedSetGiven: trusted != nil)

        // 1. Which attestations count (deduplicated across nodes by signature).
        var counting: [NodeID: Set<Claim>] = [:]
        var seen = Set<[UInt8]>()
        for o in observations {
            for a in o.attestations.prefix(attestationsPerNodeMax) where seen.insert(a.signature).inserted {
                let reason: String?
                if a.process != process || a.message != message {
                    reason = "is about another message or process"
                } else if !a.verify() {
                    reason = "has a signature that does not verify"
                } else if let trusted, !trusted.contains(a.signerNodeID) {
                    reason = "is signed by a node that is not trusted"
                } else {
                    reason = nil
                }
                if let reason {
                    report.rejected.append(.init(relayedBy: o.node, signer: a.signerNodeID, reason: reason))
                } else {
                    counting[a.signerNodeID, default: []].insert(Claim(a))
                }
            }
        }
        for (signer, claims) in counting where claims.count > 1 {
            report.equivocators.append(signer)
            counting[signer] = nil
        }
        report.equivocators.sort()

        // 2. Votes per claim.
        var votes: [Claim: [NodeID]] = [:]
        for (signer, claims) in counting { votes[claims.first!, default: []].append(signer) }
        report.claims = votes.map { AgreementReport.ClaimVotes(claim: $0.key, signers: $0.value.sorted()) }
            .sorted { l, r in
                l.signers.count != r.signers.count ? l.signers.count > r.signers.count
                    : (l.claim.resultHash + l.claim.memoryHash).lexicographicallyPrecedes(r.claim.resultHash + r.claim.memoryHash)
            }
        let reaching = report.claims.filter { $0.signers.count >= quorum }
        report.conflict = reaching.count > 1
        report.agreed = reaching.count == 1 ? reaching[0].claim : nil

        // 4. Each node's own claim.
        for o in observations {
            report.nodes.append(verdict(o, counting: counting, trusted: trusted, agreed: report.agreed))
        }
        return report
    }

    static func verdict(_ o: NodeObservation, counting: [NodeID: Set<Claim>], trusted: Set<NodeID>?,
                        agreed: Claim?) -> AgreementReport.NodeVerdict {
        var v = AgreementReport.NodeVerdict(node: o.node, nodeID: o.nodeID)
        v.problems = o.errors
        if o.malformed.count > 0 { v.problems.append("\(o.malformed.count) attestation(s) did not parse: \(o.malformed[0])") }
        // The node's own counted attestation (by its id from GET /).
        let own: Claim? = o.nodeID.flatMap { counting[$0]?.first }
        if let bytes = o.resultBytes {
            let hash = ResultAttestation.resultHash(of: bytes)
            guard let own else {
                v.problems.append(o.nodeID == nil
                    ? "its node id is unknown, so its result bytes cannot be matched to its own attestation"
                    : "it holds no valid, trusted attestation of its own for this message")
                return v
            }
            guard own.resultHash == hash else {
                v.problems.append("the result bytes it served do not hash to its own attestation's result hash")
                return v
            }
            if let body = o.resultBody {
                if let mismatch = bodyMismatch(body: body, handleOutput: bytes) {
                    v.problems.append("its /result body does not match the attested result: \(mismatch)")
                    return v
                }
                v.bodyChecked = true
            } else {
                v.problems.append("it did not answer /result")
            }
            v.claim = own
        } else {
            guard let own else {
                v.problems.append("it holds no valid, trusted attestation of its own for this message")
                return v
            }
            v.claim = own
            v.notes.append("it did not serve the attested result bytes, so its /result body is unchecked")
        }
        v.agrees = v.claim != nil && v.claim == agreed
        return v
    }

    /// Whether a `/result` body says what the `handle` output says (nil when it does), compared as JSON values:
    /// a successful `handle` (`{"ok":true,"response":{…}}` without a truthy `Error`) must match `Output`
    /// (missing = ""), `Messages`, `Spawns`, `Assignments` (missing = []); a failed one must give the body an `Error`.
    public static func bodyMismatch(body: [UInt8], handleOutput: [UInt8]) -> String? {
        guard let result = JSONBody(bytes: body).object else { return "the body is not a JSON object" }
        let doc = JSONBody(bytes: handleOutput).object
        let response = doc?["response"] as? [String: Any]
        // `ok` must be the JSON literal true (JSON booleans are NSNumbers of Objective-C type "c").
        let ok = (doc?["ok"] as? NSNumber).map { ["c", "B"].contains(String(cString: $0.objCType)) && $0.boolValue } ?? false
        if !ok || response == nil || isTruthy(response?["Error"]) {
            return result["Error"] == nil ? "handle failed but the body has no Error" : nil
        }
        let defaults: [(String, Any)] = [("Output", ""), ("Messages", [Any]()), ("Spawns", [Any]()), ("Assignments", [Any]())]
        for (key, missing) in defaults {
            let attested = response![key] ?? missing
            let served = result[key] ?? missing
            if !jsonEqual(attested, served) { return "\(key) differs" }
        }
        return nil
    }

    static func isTruthy(_ v: Any?) -> Bool {
        switch v {
        case nil, is NSNull: return false
        case let s as String: return !s.isEmpty
        case let n as NSNumber: return n.doubleValue != 0
        default: return true
        }
    }

    /// Structural JSON equality of two `JSONSerialization` values.
    static func jsonEqual(_ a: Any, _ b: Any) -> Bool {
        switch (a, b) {
        case (is NSNull, is NSNull): return true
        case let (x as String, y as String): return x == y
        case let (x as [Any], y as [Any]): return x.count == y.count && zip(x, y).allSatisfy { jsonEqual($0, $1) }
        case let (x as [String: Any], y as [String: Any]):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { jsonEqual(v, $0) } ?? false }
        case let (x as NSNumber, y as NSNumber): return x == y
        default: return false
        }
    }
}

/// One attestation's content without its signer: what nodes agree or disagree on.
public struct Claim: Hashable, Sendable {
    public let slot: UInt64
    public let resultHash: [UInt8]
    public let memoryHash: [UInt8]
    public init(_ a: ResultAttestation) { slot = a.slot; resultHash = a.resultHash; memoryHash = a.memoryHash }
}

/// What one node answered the light client.
public struct NodeObservation: Sendable {
    public var node: String
    /// From `GET /` (the scheduler address is the node id).
    public var nodeID: NodeID?
    /// The `/result` body.
    public var resultBody: [UInt8]?
    /// The `handle` output bytes from `/attestation` (`result`), when served.
    public var resultBytes: [UInt8]?
    public var attestations: [ResultAttestation] = []
    public var malformed: [String] = []
    /// Calls that failed, as text.
    public var errors: [String] = []
    public init(node: String, nodeID: NodeID? = nil, resultBody: [UInt8]? = nil, resultBytes: [UInt8]? = nil,
                attestations: [ResultAttestation] = []) {
        self.node = node; self.nodeID = nodeID; self.resultBody = resultBody; self.resultBytes = resultBytes
        self.attestations = attestations
    }
}

/// The light client's verdict.
public struct AgreementReport: Sendable {
    public struct ClaimVotes: Sendable, Equatable {
        public let claim: Claim
        /// Distinct counting signers, sorted.
        public let signers: [NodeID]
    }
    public struct Rejection: Sendable, Equatable {
        public let relayedBy: String
        public let signer: NodeID
        public let reason: String
    }
    public struct NodeVerdict: Sendable {
        public let node: String
        public let nodeID: NodeID?
        /// The node's own verified claim; nil when it has none or failed a check (see `problems`).
        public var claim: Claim?
        /// Whether its claim is the agreed one.
        public var agrees = false
        /// Whether its `/result` body was checked against the attested bytes.
        public var bodyChecked = false
        public var problems: [String] = []
        public var notes: [String] = []
        init(node: String, nodeID: NodeID?) { self.node = node; self.nodeID = nodeID }
    }

    public let quorum: Int
    /// False when every validly signed attestation counted (no trusted set given).
    public let trustedSetGiven: Bool
    /// Claims by votes, most first.
    public var claims: [ClaimVotes] = []
    /// The claim with at least `quorum` votes, when exactly one has.
    public var agreed: Claim?
    /// More than one claim reached the quorum (a split network, or too small a quorum).
    public var conflict = false
    public var nodes: [NodeVerdict] = []
    public var rejected: [Rejection] = []
    /// Signers that signed different claims for this message; none of their votes count.
    public var equivocators: [NodeID] = []

    init(quorum: Int, trustedSetGiven: Bool) { self.quorum = quorum; self.trustedSetGiven = trustedSetGiven }

    public var quorumMet: Bool { agreed != nil }
    /// The nodes whose own claim is the agreed one.
    public var agreeingNodes: [String] { nodes.filter(\.agrees).map(\.node) }

    /// A human report, one fact per line.
    public var text: String {
        var lines: [String] = []
        if let agreed, let votes = claims.first(where: { $0.claim == agreed }) {
            lines.append("quorum met: \(votes.signers.count) of \(quorum) required signers agree on slot \(agreed.slot), "
                         + "result hash \(Base64URL.encode(agreed.resultHash)), memory hash \(Base64URL.encode(agreed.memoryHash))")
        } else if conflict {
            lines.append("quorum NOT met: \(claims.filter { $0.signers.count >= quorum }.count) different results each have \(quorum)+ signers")
        } else {
            lines.append("quorum NOT met: the most signers on one result is \(claims.first?.signers.count ?? 0), \(quorum) required")
        }
        if !trustedSetGiven { lines.append("warning: no trusted signers given (--trust/--network): any valid signature counted") }
        for c in claims {
            lines.append("claim slot \(c.claim.slot) result \(Base64URL.encode(c.claim.resultHash)): "
                         + "\(c.signers.count) signer(s) \(c.signers.map(\.base64URL).joined(separator: ", "))")
        }
        for n in nodes {
            var line = "node \(n.node)"
            if let id = n.nodeID { line += " (\(id.base64URL))" }
            line += n.agrees ? ": agrees" : (n.claim != nil ? ": DISAGREES" : ": no verified claim")
            if let c = n.claim { line += ", result \(Base64URL.encode(c.resultHash))" }
            if n.bodyChecked { line += ", /result body checked" }
            lines.append(line)
            for p in n.problems { lines.append("  problem: \(p)") }
            for note in n.notes { lines.append("  note: \(note)") }
        }
        for r in rejected { lines.append("rejected attestation by \(r.signer.base64URL) (from \(r.relayedBy)): it \(r.reason)") }
        for e in equivocators { lines.append("equivocator: \(e.base64URL) signed different results; its votes are ignored") }
        return lines.joined(separator: "\n")
    }
}
