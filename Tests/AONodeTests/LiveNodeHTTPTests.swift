import AOCore
import AONode
import AOScheduling
import AOTransport
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Testing

/// The HTTP API of a real node (in-process: LMDB in a temp dir, libuv and HTTP on 127.0.0.1, port 0) through a real
/// HTTP client: values, not only shapes (hash chain, which timestamps are numbers and which strings, cursors), and
/// the bad inputs, each answered with its status and a JSON error. The CU routes are in ComputeNodeTests.
@Suite(.serialized) struct LiveNodeHTTPTests {
    static let itemBytesMax = 1 << 20

    final class Live: @unchecked Sendable {
        let dir = NSTemporaryDirectory() + "aonode-http-\(UUID().uuidString)"
        let node: Node
        var base = ""
        var nodeID: NodeID?
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        let user = Ed25519PrivateKey.generate()

        init(submitRateLimit: Double? = NodeConfiguration().submitRateLimit) throws {
            var c = NodeConfiguration()
            c.submitRateLimit = submitRateLimit
            c.dataDirectory = dir
            c.listen = Endpoint(host: "127.0.0.1", port: 0)
            c.http = Endpoint(host: "127.0.0.1", port: 0)
            c.itemBytesMax = LiveNodeHTTPTests.itemBytesMax
            var l = Logger(label: "http-test")
            l.logLevel = .warning
            node = try Node(configuration: c, logger: l)
        }
        func start() async throws {
            let e = try await node.start()
            base = "http://127.0.0.1:\(e.http.port)"
            nodeID = e.nodeID
        }
        func close() async {
            await node.shutdown()
            try? await http.shutdown()
            try? FileManager.default.removeItem(atPath: dir)
        }
        func request(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = nil) async throws -> (Int, [UInt8]) {
            var r = HTTPClientRequest(url: base + path)
            r.method = .init(rawValue: method)
            if let contentType { r.headers.add(name: "content-type", value: contentType) }
            if let body { r.body = .bytes(ByteBuffer(bytes: body)) }
            let response = try await http.execute(r, timeout: .seconds(60))
            return (Int(response.status.code), Array(try await response.body.collect(upTo: 64 << 20).readableBytesView))
        }
        func json(_ method: String, _ path: String, body: [UInt8]? = nil, contentType: String? = nil) async throws -> (Int, Any?) {
            let (s, b) = try await request(method, path, body: body, contentType: contentType)
            return (s, try? JSONSerialization.jsonObject(with: Data(b), options: [.fragmentsAllowed]))
        }
        func errorCode(_ body: Any?) -> String? { ((body as? [String: Any])?["error"] as? [String: Any])?["code"] as? String }

        func item(target: ID32? = nil, _ tags: [(String, String)], data: String = "") throws -> DataItem {
            try DataItem.create(signer: user, target: target,
                                anchor: Array(UUID().uuidString.replacingOccurrences(of: "-", with: "").utf8),
                                tags: tags.map { DataItemTag($0.0, $0.1) }, data: Array(data.utf8))
        }
        /// A process whose module is any stored Module item: scheduling does not evaluate.
        func spawnProcess() async throws -> (module: DataItem, process: DataItem) {
            let module = try item([("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Module"),
                                   ("Module-Format", "wasm32-unknown-emscripten2"), ("Input-Encoding", "JSON-1"),
                                   ("Output-Encoding", "JSON-1")], data: "not evaluated here")
            #expect(try await request("POST", "/", body: module.serialized()).0 == 202)
            let process = try item([("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Process"),
                                    ("Module", module.id.base64URL), ("Scheduler", nodeID!.base64URL)], data: "hello")
            #expect(try await request("POST", "/", body: process.serialized()).0 == 202)
            return (module, process)
        }
        func message(_ p: ProcessID, _ n: Int) throws -> DataItem {
            try item(target: p.raw, [("Data-Protocol", "ao"), ("Variant", "ao.TN.1"), ("Type", "Message"), ("Action", "Note"),
                                     ("N", String(n))], data: "message \(n)")
        }
        func waitForSlot(_ p: ProcessID, _ slot: Int) async throws {
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let (s, b) = try await json("GET", "/processes/\(p.base64URL)/scheduler")
                if s == 200, let last = (b as? [String: Any])?["last_slot"] as? Int, last >= slot { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("slot \(slot) of \(p.base64URL) was not committed in 30 s")
        }
    }

    func withLive(submitRateLimit: Double? = NodeConfiguration().submitRateLimit, _ body: (Live) async throws -> Void) async throws {
        let live = try Live(submitRateLimit: submitRateLimit)
        try await live.start()
        do { try await body(live) } catch { await live.close(); throw error }
        await live.close()
    }

    @Test func suRoutesAnswerValuesWithAOsTypesAndAValidHashChain() async throws {
        try await withLive { live in
            // GET /: the scheduler's address (the node id) and its clock as a string.
            let (s0, root) = try await live.json("GET", "/")
            let rootObject = try #require(root as? [String: Any])
            #expect(s0 == 200 && rootObject["address"] as? String == live.nodeID!.base64URL)
            #expect((rootObject["timestamp"] as? String).flatMap(UInt64.init) != nil, "GET / timestamp is a numeric string")
            // GET /timestamp: both strings; the height padded to 12 digits.
            let (s1, ts) = try await live.json("GET", "/timestamp")
            let tsObject = try #require(ts as? [String: Any])
            #expect(s1 == 200 && (tsObject["block_height"] as? String) == "000000000000")
            #expect((tsObject["timestamp"] as? String).flatMap(UInt64.init) != nil)

            let (module, process) = try await live.spawnProcess()
            let p = ProcessID(process.id)
            // POST / of a message: 202 with the MU's and the SU's fields; the timestamp a number.
            var messages: [DataItem] = []
            for n in 1...3 {
                let m = try live.message(p, n)
                let (s, b) = try await live.json("POST", "/", body: m.serialized())
                let o = try #require(b as? [String: Any])
                #expect(s == 202 && o["id"] as? String == m.id.base64URL && o["message"] as? String == "Processing DataItem")
                #expect(o["timestamp"] is NSNumber && !(o["timestamp"] is String), "POST / timestamp is a number")
                messages.append(m)
            }
            try await live.waitForSlot(p, 3)

            // GET /{process}: the schedule, slot 0 = the process itself, then the messages in order; the hash chain
            // recomputed from the ids; cursors are strings.
            let (s2, page) = try await live.json("GET", "/\(p.base64URL)")
            let edges = try #require((page as? [String: Any])?["edges"] as? [[String: Any]])
            #expect(s2 == 200 && edges.count == 4)
            var previous: (MessageID, ID32)?
            for (slot, edge) in edges.enumerated() {
                #expect(edge["cursor"] is String, "cursors are strings")
                let node = try #require(edge["node"] as? [String: Any])
                let assignment = try #require(node["assignment"] as? [String: Any])
                let tags = Dictionary((assignment["tags"] as? [[String: String]] ?? []).map { ($0["name"]!, $0["value"]!) },
                                      uniquingKeysWith: { a, _ in a })
                #expect(tags["Nonce"] == String(slot) && tags["Process"] == p.base64URL && tags["Epoch"] == "0")
                #expect(tags["Block-Height"] == "000000000000" && tags["Type"] == "Assignment")
                let chain = try #require(tags["Hash-Chain"].flatMap(ID32.init(base64URL:)))
                let expected = previous.map { HashChain.next(previousAssignment: $0.0, previous: $0.1) } ?? HashChain.first(process: p)
                #expect(chain == expected, "hash chain at slot \(slot)")
                let id = try #require((assignment["id"] as? String).flatMap(MessageID.init(base64URL:)))
                previous = (id, chain)
                let messageID = (node["message"] as? [String: Any])?["id"] as? String
                #expect(messageID == (slot == 0 ? p.base64URL : messages[slot - 1].id.base64URL))
                if slot > 0 { #expect(tags["Message"] == messages[slot - 1].id.base64URL) } else { #expect(tags["Message"] == nil) }
                // The assignment item itself is stored, signed by the node, and verifies.
                let (si, raw) = try await live.request("GET", "/items/\(id.base64URL)")
                #expect(si == 200)
                let stored = try DataItem(parsing: raw)
                try stored.verify()
                #expect(NodeIdentity.nodeID(publicKey: stored.owner) == live.nodeID)
            }
            // Paging by nonce: from-nonce is exclusive as AO's SU; limit bounds the page.
            let (_, paged) = try await live.json("GET", "/\(p.base64URL)?from-nonce=1&limit=1")
            let pagedObject = try #require(paged as? [String: Any])
            let pagedEdges = try #require(pagedObject["edges"] as? [[String: Any]])
            #expect(pagedEdges.count == 1)
            #expect(((pagedObject["page_info"] as? [String: Any])?["has_next_page"] as? Bool) == true)

            // GET /{process}/latest and GET /{message}: single entries.
            let (s3, latest) = try await live.json("GET", "/\(p.base64URL)/latest")
            let latestTags = (((latest as? [String: Any])?["assignment"] as? [String: Any])?["tags"] as? [[String: String]]) ?? []
            #expect(s3 == 200 && latestTags.contains { $0["name"] == "Nonce" && $0["value"] == "3" })
            let (s4, single) = try await live.json("GET", "/\(messages[1].id.base64URL)")
            #expect(s4 == 200 && ((single as? [String: Any])?["message"] as? [String: Any])?["id"] as? String == messages[1].id.base64URL)

            // GET /processes/{id}: timestamp a number, block a padded string.
            let (s5, info) = try await live.json("GET", "/processes/\(p.base64URL)")
            let infoObject = try #require(info as? [String: Any])
            #expect(s5 == 200 && infoObject["timestamp"] is NSNumber && infoObject["block"] as? String == "000000000000")

            // Gateway: /raw is the data, /items the whole item, GraphQL finds the process by tags.
            let (s6, raw) = try await live.request("GET", "/raw/\(process.id.base64URL)")
            #expect(s6 == 200 && raw == Array("hello".utf8))
            let (s7, whole) = try await live.request("GET", "/items/\(module.id.base64URL)")
            #expect(s7 == 200 && whole == module.serialized())
            let query = #"{"query":"{ transactions(tags: [{name: \"Type\", values: [\"Process\"]}]) { edges { cursor node { id } } } }"}"#
            let (s8, gql) = try await live.json("POST", "/graphql", body: Array(query.utf8), contentType: "application/json")
            let gqlEdges = (((gql as? [String: Any])?["data"] as? [String: Any])?["transactions"] as? [String: Any])?["edges"] as? [[String: Any]]
            #expect(s8 == 200 && gqlEdges?.compactMap { ($0["node"] as? [String: Any])?["id"] as? String } == [p.base64URL])

            // Native: health, peers, the group, metrics.
            let (s9, health) = try await live.json("GET", "/health")
            #expect(s9 == 200 && (health as? [String: Any])?["status"] as? String == "ok")
            let (s10, peers) = try await live.json("GET", "/peers")
            #expect(s10 == 200 && (peers as? [Any] ?? (peers as? [String: Any])?["peers"] as? [Any])?.isEmpty == true)
            let (s11, group) = try await live.json("GET", "/processes/\(p.base64URL)/scheduler")
            let groupObject = try #require(group as? [String: Any])
            #expect(s11 == 200 && groupObject["leader"] as? String == live.nodeID!.base64URL && groupObject["last_slot"] as? Int == 3)
            let (s12, metrics) = try await live.request("GET", "/metrics")
            let text = String(decoding: metrics, as: UTF8.self)
            #expect(s12 == 200 && text.contains("aonode_slots_committed_total 4"), "metrics: \(text.prefix(400))")
        }
    }

    @Test func badInputsGetTheirStatusAndAJSONErrorAndChangeNothing() async throws {
        // A slow limit (4/s, burst 20) so that the limiter trips however slowly a loaded machine answers: 80 posts
        // would need 15 s of refill to all pass.
        try await withLive(submitRateLimit: 4) { live in
            let (_, process) = try await live.spawnProcess()
            let p = ProcessID(process.id)
            try await live.waitForSlot(p, 0)

            // Not a data item.
            let (s1, b1) = try await live.json("POST", "/", body: Array("garbage, not ANS-104".utf8))
            #expect(s1 == 400 && live.errorCode(b1) == "invalid_item", "\(s1) \(String(describing: b1))")
            // A bad signature: one flipped byte of the signature (bytes 2..<66 for ed25519).
            var forged = try live.message(p, 1).serialized()
            forged[10] ^= 0x01
            let (s2, b2) = try await live.json("POST", "/", body: forged)
            #expect(s2 == 400 && live.errorCode(b2) == "bad_signature", "\(s2) \(String(describing: b2))")
            // A message for a process nobody knows.
            let stranger = try live.message(ProcessID(raw: ID32(bytes: SHA2.sha256(Array("nobody".utf8)))!), 1)
            let (s3, b3) = try await live.json("POST", "/", body: stranger.serialized())
            #expect(s3 == 404 && live.errorCode(b3) == "unknown_process", "\(s3) \(String(describing: b3))")
            // Over the body limit.
            let (s4, b4) = try await live.json("POST", "/", body: [UInt8](repeating: 7, count: LiveNodeHTTPTests.itemBytesMax + 1))
            #expect(s4 == 413 && ["body_too_large", "item_too_large"].contains(live.errorCode(b4) ?? ""), "\(s4) \(String(describing: b4))")
            // Malformed queries and ids.
            let (s5, b5) = try await live.json("GET", "/\(p.base64URL)?limit=abc")
            #expect(s5 == 400 && live.errorCode(b5) != nil, "\(s5) \(String(describing: b5))")
            let (s6, b6) = try await live.json("GET", "/processes/not-an-id")
            #expect(s6 == 400 && live.errorCode(b6) == "invalid_id", "\(s6) \(String(describing: b6))")
            let (s7, b7) = try await live.json("GET", "/processes/\(Base64URL.encode(SHA2.sha256(Array("x".utf8))))/scheduler")
            #expect(s7 == 404 && live.errorCode(b7) == "unknown_process", "\(s7) \(String(describing: b7))")
            let (s8, b8) = try await live.json("POST", "/graphql", body: Array("{not json".utf8), contentType: "application/json")
            #expect(s8 == 400 && live.errorCode(b8) != nil, "\(s8) \(String(describing: b8))")
            // None of that reached the schedule.
            let (_, group) = try await live.json("GET", "/processes/\(p.base64URL)/scheduler")
            #expect((group as? [String: Any])?["last_slot"] as? Int == 0)

            // Too many requests from one client: POST / is rate limited per client (burst 20, 4/s here).
            var statuses: [Int: Int] = [:]
            let start = ContinuousClock.now
            for n in 0..<80 {
                let (s, b) = try await live.json("POST", "/", body: try live.message(p, 100 + n).serialized())
                statuses[s, default: 0] += 1
                if s == 429 { #expect(live.errorCode(b) == "rate_limited") }
            }
            let elapsed = ContinuousClock.now - start
            // At most the burst plus what refilled while posting (the bad posts above took some of the burst).
            let allowed = 20 + Int(4 * Double(elapsed.components.seconds + 1))
            #expect((statuses[429] ?? 0) > 0 && (statuses[202] ?? 0) >= 1 && (statuses[202] ?? 0) <= allowed,
                    "statuses: \(statuses) in \(elapsed)")
            // Every accepted message is scheduled, none of the refused ones.
            try await live.waitForSlot(p, statuses[202] ?? 0)
            let (_, after) = try await live.json("GET", "/processes/\(p.base64URL)/scheduler")
            #expect((after as? [String: Any])?["last_slot"] as? Int == statuses[202])
        }
    }
}
