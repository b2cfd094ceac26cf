import AOCore
import AOHTTP
import Foundation
import HummingbirdTesting
import Logging
import Testing

/// Every route over real HTTP (AsyncHTTPClient -> Hummingbird on 127.0.0.1) against `ScriptedNode`: the JSON values,
/// not only the shapes, and what each request was translated into.
@Suite struct SUAPITests {
    let pid = ScriptedNode.processID.base64URL

    func keys(_ v: JSONValue?) -> [String] {
        if case .object(let pairs)? = v { return pairs.map(\.0) }
        return []
    }

    @Test func schedulerLocationHasStringTimestamp() async throws {
        try await withLiveServer { live in
            let r = try await live.get("/")
            #expect(r.status == 200)
            #expect(r.header("Content-Type")?.hasPrefix("application/json") == true)
            #expect(r.header("Access-Control-Allow-Origin") == "*")
            let j = try r.json
            #expect(keys(j) == ["timestamp", "address"])
            #expect(j["timestamp"] == .string(String(ScriptedNode.t2)))  // a STRING (AO facts 5)
            #expect(j["address"] == .string(ScriptedNode.schedulerAddress.base64URL))
        }
    }

    @Test func schedulerLocationRedirectsLikeTheSURouter() async throws {
        let node = ScriptedNode()
        node.redirect.withLock { $0 = "http://10.0.0.9:8734/" }
        try await withLiveServer(node) { live in
            var request = try await live.get("/?process-id=\(pid)")
            // AsyncHTTPClient follows redirects only when told to; we see the 307 itself.
            #expect(request.status == 307)
            #expect(request.header("Location") == "http://10.0.0.9:8734/?process-id=\(pid)")
            request = try await live.get("/?process-id=bad")
            #expect(request.status == 400 && request.errorCode == "invalid_id")
        }
    }

    @Test func timestampIsStringsWithPaddedHeight() async throws {
        try await withLiveServer { live in
            let j = try await live.get("/timestamp").json
            #expect(j == .object([("timestamp", .string("1711676638600")), ("block_height", "000001393008")]))
        }
    }

    @Test func processPageCarriesTheHashChainVectors() async throws {
        let node = ScriptedNode()
        try await withLiveServer(node) { live in
            let r = try await live.get("/\(pid)?process-id=\(pid)")
            #expect(r.status == 200)
            let j = try r.json
            #expect(keys(j) == ["page_info", "edges"])
            #expect(j["page_info"] == .object([("has_next_page", false)]))
            let edges = try #require(j["edges"]?.arrayValue)
            #expect(edges.count == 3)
            // cursors are the assignment Timestamps, as strings
            #expect(edges.map { $0["cursor"] } == [.string("1711676638471"), .string("1711676638500"), .string("1711676638600")])
            #expect(edges.allSatisfy { keys($0) == ["node", "cursor"] && keys($0["node"]) == ["message", "assignment"] })

            // edge 0: the process itself (aop-6), nonce 0, HC0 of ao-protocol.md 2.6
            let process = try #require(edges[0]["node"]?["message"])
            #expect(keys(process) == ["id", "owner", "data", "tags", "signature", "anchor", "target"])
            #expect(process["id"] == .string(pid))
            #expect(process["target"] == .null)
            #expect(process["data"] == "1984")
            #expect(process["anchor"] == .null)
            #expect(process["owner"] == .object([("address", .string(Base64URL.encode(SHA2.sha256(ScriptedNode.userKey)))),
                                                 ("key", .string(Base64URL.encode(ScriptedNode.userKey)))]))
            let a0 = try #require(edges[0]["node"]?["assignment"])
            #expect(keys(a0) == ["id", "owner", "tags", "signature", "anchor", "target"])
            #expect(a0["id"] == .string(ScriptedNode.processAssignmentID.base64URL))
            #expect(a0["target"] == "")
            #expect(a0["anchor"] == .null)
            let tags0 = try #require(a0["tags"]?.arrayValue)
            #expect(tags0.map { $0["name"]?.stringValue ?? "" }
                    == ["Process", "Epoch", "Nonce", "Hash-Chain", "Block-Height", "Timestamp", "Data-Protocol", "Type", "Variant"])
            #expect(tags0[3]["value"] == .string(ScriptedNode.hc0))
            #expect(tags0[2]["value"] == "0")

            // edge 1: a message; HC1 of the vectors; data shown as lossy UTF-8, anchor as text, target the pid
            let m1 = try #require(edges[1]["node"]?["message"])
            #expect(m1["data"] == .string("hi\u{FFFD}"))
            #expect(m1["anchor"] == "00000000000000000000000000000003")
            #expect(m1["target"] == .string(pid))
            let tags1 = try #require(edges[1]["node"]?["assignment"]?["tags"]?.arrayValue)
            #expect(tags1[3]["value"] == .string(ScriptedNode.hc1))
            #expect(tags1.last?["value"] == .string(ScriptedNode.message1.base64URL))

            // edge 2: a pure assignment: message null, Message tag names the on-chain tx
            #expect(edges[2]["node"]?["message"] == .null)
            let tags2 = try #require(edges[2]["node"]?["assignment"]?["tags"]?.arrayValue)
            #expect(tags2.last == .object([("name", "Message"), ("value", .string(ScriptedNode.externalTx.base64URL))]))
        }
        #expect(node.record.assignmentQueries == [AssignmentQuery(process: ScriptedNode.processID, range: .timestamp(after: nil, through: nil), limit: 100)])
        #expect(node.record.lookupHints == [ScriptedNode.processID])
    }

    @Test func timestampPagingFromCursor() async throws {
        let node = ScriptedNode()
        try await withLiveServer(node) { live in
            let j = try await live.get("/\(pid)?from=1711676638471&limit=1").json
            #expect(j["page_info"]?["has_next_page"] == true)
            let edges = try #require(j["edges"]?.arrayValue)
            #expect(edges.count == 1)
            #expect(edges[0]["cursor"] == "1711676638500")
            // resume from the last cursor, as the CU does
            let next = try await live.get("/\(pid)?from=1711676638500&to=1711676638600&limit=1").json
            #expect(next["page_info"]?["has_next_page"] == false)
            #expect(next["edges"]?.arrayValue?.first?["cursor"] == "1711676638600")
        }
        #expect(node.record.assignmentQueries.map(\.range) == [.timestamp(after: ScriptedNode.t0, through: nil),
                                                               .timestamp(after: ScriptedNode.t1, through: ScriptedNode.t2)])
        #expect(node.record.assignmentQueries.map(\.limit) == [1, 1])
    }

    @Test func nonceModeAsHyperBEAMAsks() async throws {
        let node = ScriptedNode()
        try await withLiveServer(node) { live in
            let j = try await live.get("/\(pid)?proc-id=\(pid)&from-nonce=-1&to-nonce=1&limit=1000").json
            let edges = try #require(j["edges"]?.arrayValue)
            #expect(edges.map { $0["cursor"] } == ["0", "1"])  // nonce cursors, strings
        }
        #expect(node.record.assignmentQueries == [AssignmentQuery(process: ScriptedNode.processID, range: .nonce(after: -1, through: 1), limit: 1000)])
        #expect(node.record.lookupHints == [ScriptedNode.processID])  // proc-id accepted as the hint
    }

    @Test func singleLookupByMessageOrAssignmentID() async throws {
        try await withLiveServer { live in
            let byMessage = try await live.get("/\(ScriptedNode.message1.base64URL)?process-id=\(pid)").json
            #expect(keys(byMessage) == ["message", "assignment"])
            #expect(byMessage["message"]?["id"] == .string(ScriptedNode.message1.base64URL))
            #expect(byMessage["assignment"]?["id"] == .string(ScriptedNode.assignment1.base64URL))
            let byAssignment = try await live.get("/\(ScriptedNode.assignment2.base64URL)").json
            #expect(byAssignment["message"] == .null)
            #expect(byAssignment["assignment"]?["id"] == .string(ScriptedNode.assignment2.base64URL))
            let unknown = try await live.get("/\(ScriptedNode.unknownProcess.base64URL)")
            #expect(unknown.status == 404)
            #expect(try unknown.json == .object([("error", .object([("code", "not_found"), ("message", "Message or Process not found")]))]))
        }
    }

    @Test func latestAndProcessInfo() async throws {
        try await withLiveServer { live in
            let latest = try await live.get("/\(pid)/latest").json
            #expect(latest["assignment"]?["id"] == .string(ScriptedNode.assignment2.base64URL))
            let none = try await live.get("/\(ScriptedNode.emptyProcess.base64URL)/latest")
            #expect(none.status == 404 && none.errorCode == "not_found")
            #expect(try none.json["error"]?["message"] == "Latest message not available")
            let unknown = try await live.get("/\(ScriptedNode.unknownProcess.base64URL)/latest")
            #expect(unknown.status == 404 && unknown.errorCode == "unknown_process")

            let info = try await live.get("/processes/\(pid)").json
            #expect(keys(info) == ["process_id", "block", "owner", "tags", "timestamp", "data", "anchor", "signature", "target"])
            #expect(info["timestamp"] == .integer(1_711_676_638_471))  // a NUMBER here
            #expect(info["block"] == "000001393008")  // a padded STRING
            #expect(info["process_id"] == .string(pid))
            #expect(info["target"] == .null)
            #expect(info["data"] == "1984")
            let missing = try await live.get("/processes/\(ScriptedNode.unknownProcess.base64URL)")
            #expect(missing.status == 404 && missing.errorCode == "unknown_process")
        }
    }

    @Test func malformedQueriesAndIDs() async throws {
        let node = ScriptedNode()
        try await withLiveServer(node) { live in
            for (path, code) in [
                ("/\(pid)?limit=abc", "invalid_query"), ("/\(pid)?limit=0", "invalid_query"),
                ("/\(pid)?limit=1001", "invalid_query"), ("/\(pid)?from=-5", "invalid_query"),
                ("/\(pid)?from-nonce=-2", "invalid_query"), ("/\(pid)?to-nonce=1e3", "invalid_query"),
                ("/\(pid)?process-id=nope", "invalid_id"), ("/not-an-id", "invalid_id"),
                ("/processes/xyz", "invalid_id"),
            ] {
                let r = try await live.get(path)
                #expect(r.status == 400, "\(path)")
                #expect(r.errorCode == code, "\(path): \(r.text)")
                #expect(try keys(r.json["error"]) == ["code", "message"])
            }
            // HTTP client libraries re-encode a bad escape; a raw request shows what the server does with it.
            let c = try RawConnection(port: live.port)
            c.send("GET /\(pid)?a=%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let raw = String(decoding: await c.readUntilClosed(timeoutSeconds: 90).bytes, as: UTF8.self)
            #expect(raw.hasPrefix("HTTP/1.1 400") && raw.contains("\"code\":\"invalid_query\""), "\(raw)")
            let long = try await live.get("/\(pid)?x=" + String(repeating: "a", count: HTTPLimits.queryBytesMax))
            #expect(long.status == 414 && long.errorCode == "query_too_large")
        }
        #expect(node.record.assignmentQueries.isEmpty)  // nothing malformed reached the node
    }
}

@Suite struct SubmitTests {
    let pid = ScriptedNode.processID.base64URL

    @Test func acceptedItemSatisfiesAoconnectAndAnMU() async throws {
        let node = ScriptedNode()
        let item = Array("a signed data item".utf8)
        try await withLiveServer(node) { live in
            let r = try await live.post("/", body: item, headers: [("Content-Type", "application/octet-stream"), ("Accept", "application/json")])
            #expect(r.status == 202)
            let j = try r.json
            #expect(j == .object([("message", "Processing DataItem"),
                                  ("id", .string(Base64URL.encode(SHA2.sha256(item)))),
                                  ("timestamp", .integer(Int64(ScriptedNode.t1)))]))  // a NUMBER (MU's zod)
        }
        #expect(node.record.submitted == [item])
    }

    @Test func assignmentOfAnExistingTransaction() async throws {
        let node = ScriptedNode()
        let tx = ScriptedNode.externalTx.base64URL
        try await withLiveServer(node) { live in
            let r = try await live.post("/?process-id=\(pid)&assign=\(tx)&base-layer&exclude=Data,Anchor", body: [])
            #expect(r.status == 202)
            #expect(try r.json["message"] == "Processing Assignment")
            #expect(try r.json["id"] == .string(ScriptedNode.assignment2.base64URL))
            let half = try await live.post("/?assign=\(tx)", body: [])
            #expect(half.status == 400 && half.errorCode == "missing_parameter")
            #expect(try half.json["error"]?["message"] == "If sending assign or process-id, you must send both.")
        }
        #expect(node.record.assigns == [AssignRequest(process: ScriptedNode.processID, message: ScriptedNode.externalTx,
                                                      baseLayer: true, exclude: ["Data", "Anchor"])])
    }

    @Test(arguments: [
        ("JUNK", 400, "invalid_item"), ("BADSIG", 400, "bad_signature"), ("ETH", 400, "unsupported_signature_type"),
        ("NOTAGS", 400, "invalid_tags"), ("ORPHAN", 404, "unknown_process"), ("DUP", 409, "duplicate"),
        ("BUSY", 503, "unavailable"), ("CRASH", 500, "internal_error"),
    ])
    func rejectionsMapToStatusAndCode(prefix: String, status: Int, code: String) async throws {
        try await withLiveServer { live in
            let r = try await live.post("/", body: Array((prefix + " rest of item").utf8))
            #expect(r.status == status)
            #expect(r.errorCode == code, "\(r.text)")
            let message = try #require(try r.json["error"]?["message"]?.stringValue)
            #expect(!message.isEmpty)
            if code == "internal_error" { #expect(!message.contains("Cocoa") && !message.contains("fileNoSuchFile")) }
            if status == 503 { #expect(r.header("Retry-After") == "1") }
        }
    }

    @Test func emptyAndOversizeBodies() async throws {
        var settings = testSettings()
        settings.submitBodyBytesMax = 1024
        let node = ScriptedNode()
        try await withLiveServer(node, settings: settings) { live in
            let empty = try await live.post("/", body: [])
            #expect(empty.status == 400 && empty.errorCode == "invalid_body")
            let big = try await live.post("/", body: [UInt8](repeating: 0x41, count: 2048))
            #expect(big.status == 413 && big.errorCode == "body_too_large")
            #expect(try big.json["error"]?["message"] == "The request body is larger than 1024 bytes.")
            // the connection pool still works afterwards
            let ok = try await live.post("/", body: [UInt8](repeating: 0x41, count: 1024))
            #expect(ok.status == 202)
        }
        #expect(node.record.submitted.count == 1)
    }

    @Test func hugeDeclaredBodyIsRefusedWithoutReadingIt() async throws {
        var settings = testSettings()
        settings.idleTimeout = .seconds(600)  // so that only the refusal can close the connection within the bound
        try await withLiveServer(settings: settings) { live in
            let c = try RawConnection(port: live.port)
            c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 50000000\r\n\r\n")
            c.send([UInt8](repeating: 0, count: 1000))
            let (bytes, closed, seconds) = await c.readUntilClosed(timeoutSeconds: 90)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
            #expect(text.contains("\"code\":\"body_too_large\""))
            // The server stopped reading and closed instead of waiting for 50 MB that never come.
            #expect(closed && seconds < 60, "closed: \(closed) after \(seconds) s")
        }
    }

    @Test func chunkedOversizeBodyIsCutOff() async throws {
        var settings = testSettings()
        settings.submitBodyBytesMax = 100_000
        let node = ScriptedNode()
        try await withLiveServer(node, settings: settings) { live in
            let c = try RawConnection(port: live.port)
            c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = String(repeating: "z", count: 65536)
            for _ in 0..<4 { c.send(String(65536, radix: 16) + "\r\n" + chunk + "\r\n") }
            let (bytes, closed, _) = await c.readUntilClosed(timeoutSeconds: 90)
            #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 413"))
            #expect(closed)
        }
        #expect(node.record.submitted.isEmpty)
    }

    @Test func perClientRateLimitAnswers429WithRetryAfter() async throws {
        var settings = testSettings()
        settings.submitRateLimit = .init(ratePerSecond: 0.5, burst: 3)
        let node = ScriptedNode()
        try await withLiveServer(node, settings: settings) { live in
            for i in 0..<3 {
                #expect(try await live.post("/", body: Array("item \(i)".utf8)).status == 202)
            }
            let limited = try await live.post("/", body: Array("item 3".utf8))
            #expect(limited.status == 429)
            #expect(limited.errorCode == "rate_limited")
            #expect(limited.header("Retry-After") == "2")  // one token every 2 s
            // only POST / is limited
            #expect(try await live.get("/timestamp").status == 200)
            // refusals are counted and exposed next to the node's own metrics
            let metrics = try await live.get("/metrics").text
            #expect(metrics.contains("aonode_slots_total 3"))
            #expect(metrics.contains("aonode_http_errors_total{code=\"rate_limited\"} 1\n"))
            #expect(metrics.contains("aonode_http_responses_total{route=\"submit\",status=\"202\"} 3\n"))
            #expect(metrics.contains("aonode_http_responses_total{route=\"submit\",status=\"429\"} 1\n"))
        }
        #expect(node.record.submitted.count == 3)
    }
}

@Suite struct CUAPITests {
    let pid = ScriptedNode.processID.base64URL

    @Test func resultObject() async throws {
        try await withLiveServer { live in
            let j = try await live.get("/result/\(ScriptedNode.message1.base64URL)?process-id=\(pid)&no-busy=1").json
            #expect(j == AOShapes.result(ScriptedNode.result1))
            if case .object(let pairs) = j { #expect(pairs.map(\.0) == ["Messages", "Assignments", "Spawns", "Output", "GasUsed"]) }
            #expect(j["GasUsed"] == .integer(123_456))
            #expect(j["Output"]?["prompt"] == "aos> ")
            let failed = try await live.get("/result/\(ScriptedNode.assignment2.base64URL)?process-id=\(pid)").json
            #expect(failed == .object([("Messages", []), ("Assignments", []), ("Spawns", []), ("Output", ""),
                                       ("Error", "[string \"aos\"]:1: boom")]))
            let missing = try await live.get("/result/\(ScriptedNode.message1.base64URL)")
            #expect(missing.status == 400 && missing.errorCode == "missing_parameter")
            let unknown = try await live.get("/result/\(ScriptedNode.message1.base64URL)?process-id=\(ScriptedNode.unknownProcess.base64URL)")
            #expect(unknown.status == 404 && unknown.errorCode == "unknown_process")
            let notScheduled = try await live.get("/result/\(ScriptedNode.externalTx.base64URL)?process-id=\(pid)")
            #expect(notScheduled.status == 404 && notScheduled.errorCode == "not_found")
        }
    }

    @Test func resultsConnectionAndCursors() async throws {
        let node = ScriptedNode()
        try await withLiveServer(node) { live in
            let j = try await live.get("/results/\(pid)?sort=DESC&limit=1").json
            #expect(j["pageInfo"] == .object([("hasNextPage", true)]))
            let edge = try #require(j["edges"]?.arrayValue?.first)
            #expect(edge["node"] == .object([("Messages", .array(ScriptedNode.result1.messages)), ("Assignments", []),
                                             ("Spawns", []), ("Output", ScriptedNode.result1.output)]))  // no GasUsed
            let cursor = try #require(edge["cursor"]?.stringValue)
            #expect(String(decoding: Data(base64Encoded: cursor)!, as: UTF8.self)
                    == #"{"timestamp":1711676638500,"ordinate":"1","sort":"DESC"}"#)
            // the cursor comes back as `from`; its sort wins over the parameter
            _ = try await live.get("/results/\(pid)?from=\(cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)&sort=ASC")
            _ = try await live.get("/results/\(pid)?to=1711676638600")
            let bad = try await live.get("/results/\(pid)?from=***")
            #expect(bad.status == 400 && bad.errorCode == "invalid_query")
            let badSort = try await live.get("/results/\(pid)?sort=UP")
            #expect(badSort.status == 400)
        }
        let queries = node.record.resultsQueries
        #expect(queries.count == 3)
        #expect(queries[0] == ResultsQuery(process: ScriptedNode.processID, sort: .descending, limit: 1))
        #expect(queries[1].from == ResultsCursor(timestamp: ScriptedNode.t1, ordinate: "1", sort: .descending))
        #expect(queries[1].sort == .descending && queries[1].limit == 25)
        #expect(queries[2].to == ResultsCursor(timestamp: ScriptedNode.t2))
    }

    @Test func cronIsAlwaysAscendingWithItsOwnLimits() async throws {
        let node = ScriptedNode()
        try await withLiveServer(node) { live in
            let j = try await live.get("/cron/\(pid)?sort=DESC").json
            let cursor = try #require(j["edges"]?.arrayValue?.first?["cursor"]?.stringValue)
            #expect(String(decoding: Data(base64Encoded: cursor)!, as: UTF8.self)
                    == #"{"timestamp":1711676638600,"ordinate":"2","cron":"1-10-minutes","sort":"ASC"}"#)
            #expect(try await live.get("/cron/\(pid)?limit=1001").status == 400)
        }
        #expect(node.record.cronQueries.map(\.limit) == [500])
        #expect(node.record.cronQueries.map(\.sort) == [.ascending])
    }

    @Test func dryRunTranslatesAoconnectsBody() async throws {
        let node = ScriptedNode()
        let body = #"{"Id":"1234","Owner":"1234","Target":"\#(pid)","Data":"1234","Anchor":"0","Unknown":{"x":1},"Tags":[{"name":"Action","value":"Balance"},{"name":"Data-Protocol","value":"ao"},{"name":"Type","value":"Message"},{"name":"Variant","value":"ao.TN.1"}]}"#
        try await withLiveServer(node) { live in
            let r = try await live.post("/dry-run?process-id=\(pid)&to=\(ScriptedNode.message1.base64URL)", body: Array(body.utf8),
                                        headers: [("Content-Type", "application/json"), ("X-Max-Age", "250")])
            #expect(r.status == 200)
            #expect(try r.json == .object([("Messages", []), ("Assignments", []), ("Spawns", []), ("Output", "Balance: 100")]))
            for (path, text, code) in [
                ("/dry-run?process-id=\(pid)", "{not json", "invalid_body"),
                ("/dry-run?process-id=\(pid)", #"{"Tags":[{"name":1}]}"#, "invalid_body"),
                ("/dry-run?process-id=\(pid)", "[]", "invalid_body"),
                ("/dry-run", "{}", "missing_parameter"),
            ] {
                let bad = try await live.post(path, body: Array(text.utf8))
                #expect(bad.status == 400 && bad.errorCode == code, "\(text): \(bad.text)")
            }
            let unknown = try await live.post("/dry-run?process-id=\(ScriptedNode.unknownProcess.base64URL)", body: Array("{}".utf8))
            #expect(unknown.status == 404 && unknown.errorCode == "unknown_process")
        }
        let expected = DryRunMessage(id: "1234", owner: "1234", target: pid, data: "1234", anchor: "0",
                                     tags: [DataItemTag("Action", "Balance"), DataItemTag("Data-Protocol", "ao"),
                                            DataItemTag("Type", "Message"), DataItemTag("Variant", "ao.TN.1")])
        #expect(node.record.dryRuns.first == DryRunRequest(process: ScriptedNode.processID, to: ScriptedNode.message1,
                                                           maxAgeMs: 250, message: expected))
    }

    @Test func stateIsRawMemoryWithPositionHeaders() async throws {
        let node = ScriptedNode()
        try await withLiveServer(node) { live in
            let r = try await live.get("/state/\(pid)?to=1711676638500")
            #expect(r.status == 200)
            #expect(r.body == [0, 1, 2, 3, 0xFF])
            #expect(r.header("Content-Type") == "application/octet-stream")
            #expect(r.header("Last-Timestamp") == "1711676638500")
            #expect(r.header("Last-Ordinate") == "1")
            #expect(r.header("Last-Block-Height") == "1393008")
        }
        #expect(node.record.stateTo == [ScriptedNode.t1])
    }
}

@Suite struct GatewayAndNativeTests {
    let pid = ScriptedNode.processID.base64URL

    @Test func rawAndItems() async throws {
        try await withLiveServer { live in
            let raw = try await live.get("/raw/\(pid)")
            #expect(raw.status == 200 && raw.text == "1984" && raw.header("Content-Type") == "text/plain")
            let item = try await live.get("/items/\(pid)")
            #expect(item.body == [0x02, 0x00] + Array("whole item".utf8))
            let missing = try await live.get("/raw/\(ScriptedNode.message1.base64URL)")
            #expect(missing.status == 404 && missing.errorCode == "not_found")
        }
    }

    func graphql(_ live: Live, _ query: String, variables: JSONValue? = nil) async throws -> Reply {
        var pairs: [(String, JSONValue)] = [("query", .string(query))]
        if let variables { pairs.append(("variables", variables)) }
        return try await live.post("/graphql", body: JSONValue.object(pairs).serializedBytes, headers: [("Content-Type", "application/json")])
    }

    @Test func schedulerLocationLookupAsSchedulerUtilsSendsIt() async throws {
        let node = ScriptedNode()
        try await withLiveServer(node) { live in
            let r = try await graphql(live, GraphQLParserTests.schedulerLocationQuery,
                                      variables: .object([("owner", .string(ScriptedNode.schedulerAddress.base64URL))]))
            #expect(r.status == 200)
            let edges = try #require(try r.json["data"]?["transactions"]?["edges"]?.arrayValue)
            #expect(edges.count == 1)
            // exactly the selected fields, nothing else
            #expect(edges[0] == .object([("node", .object([("tags", .array([
                .object([("name", "Data-Protocol"), ("value", "ao")]), .object([("name", "Type"), ("value", "Scheduler-Location")]),
                .object([("name", "Url"), ("value", "http://127.0.0.1:8734")]),
                .object([("name", "Time-To-Live"), ("value", "3600000")]),
            ]))]))]))
        }
        let q = try #require(node.record.transactionsQueries.first)
        #expect(q.owners == [ScriptedNode.schedulerAddress] && q.first == 1 && q.sort == .heightDescending)
    }

    @Test func transactionMetaAsAoconnectSendsIt() async throws {
        let query = """
            query GetTransactions ($transactionIds: [ID!]!) {
              transactions(ids: $transactionIds) {
                pageInfo { hasNextPage }
                edges { cursor node { id owner { address } tags { name value } block { id height timestamp } data { size type } } }
              }
            }
            """
        try await withLiveServer { live in
            let r = try await graphql(live, query, variables: .object([("transactionIds", [.string(pid)])]))
            let conn = try #require(try r.json["data"]?["transactions"])
            #expect(conn["pageInfo"] == .object([("hasNextPage", false)]))
            let node = try #require(conn["edges"]?.arrayValue?.first?["node"])
            #expect(node["id"] == .string(pid))
            #expect(node["owner"] == .object([("address", .string(Base64URL.encode(SHA2.sha256(ScriptedNode.userKey))))]))
            #expect(node["block"] == .null)
            #expect(node["data"] == .object([("size", "4"), ("type", "text/plain")]))
            let single = try await graphql(live, "{ t: transaction(id: \"\(pid)\") { id recipient __typename } }")
            #expect(try single.json == .object([("data", .object([("t", .object([("id", .string(pid)), ("recipient", ""),
                                                                               ("__typename", "Transaction")]))]))]))
        }
    }

    @Test func graphqlErrorsUseBothShapes() async throws {
        try await withLiveServer { live in
            for query in ["mutation { x }", "{ transactions { edges { node { nope } } } }",
                          "{ transactions(block: {min: 1}) { edges { cursor } } }", "{ blocks { edges { cursor } } }",
                          "{ transactions(ids: $missing) { edges { cursor } } }"] {
                let r = try await graphql(live, query)
                #expect(r.status == 400, "\(query)")
                #expect(r.errorCode == "graphql_error")
                #expect(try r.json["errors"]?.arrayValue?.first?["message"] == r.json["error"]?["message"])
            }
            let notJSON = try await live.post("/graphql", body: Array("query { }".utf8))
            #expect(notJSON.status == 400 && notJSON.errorCode == "graphql_error")
        }
    }

    @Test func nativeRoutes() async throws {
        let node = ScriptedNode()
        try await withLiveServer(node) { live in
            #expect(try await live.get("/health").json == .object([("status", "ok"), ("checks", .object([("store", "ok"), ("peers", "2")]))]))
            node.healthy.withLock { $0 = false }
            #expect(try await live.get("/health").status == 503)
            let metrics = try await live.get("/metrics")
            #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true && metrics.text.contains("aonode_slots_total 3"))
            let peers = try await live.get("/peers").json
            #expect(peers == .object([("peers", [.object([("node", .string(NodeID(raw: ScriptedNode.id32(20)).base64URL)),
                                                          ("address", "127.0.0.1:7001"), ("connected", true), ("score", .double(1.5)),
                                                          ("overlay", true), ("globalMesh", false)])])]))
            let group = try await live.get("/processes/\(pid)/scheduler").json
            #expect(group["leader"] == .string(NodeID(raw: ScriptedNode.id32(20)).base64URL))
            #expect(group["term"] == 3 && group["last_slot"] == 2)
            #expect(group["members"]?.arrayValue?.count == 2)
        }
    }

    @Test func attestationsForLightClients() async throws {
        try await withLiveServer { live in
            let m1 = ScriptedNode.message1.base64URL
            let reply = try await live.get("/attestation/\(m1)?process-id=\(pid)")
            #expect(reply.status == 200)
            let json = try reply.json
            func keys(_ v: JSONValue?) -> [String] { if case .object(let pairs)? = v { return pairs.map(\.0) }; return [] }
            #expect(keys(json) == ["attestations", "result"])
            #expect(json["result"] == .string(Base64URL.encode(ScriptedNode.handleOutput1)))
            let list = try #require(json["attestations"]?.arrayValue)
            #expect(list.count == 1)
            #expect(keys(list[0]) == ["process", "slot", "message", "resultHash", "memoryHash", "signer", "signature"])
            #expect(list[0]["slot"] == 1)
            // What the server wrote parses back (through Foundation, as AOClient reads it) into a verifying attestation.
            let object = try JSONSerialization.jsonObject(with: Data(list[0].serializedBytes))
            let back = try ResultAttestation(json: object)
            #expect(back == ScriptedNode.attestation1 && back.verify())
            // None held: an empty list and no result.
            let none = try await live.get("/attestation/\(ScriptedNode.assignment2.base64URL)?process-id=\(pid)").json
            #expect(none == .object([("attestations", .array([]))]))
            let missing = try await live.get("/attestation/\(m1)")
            #expect(missing.status == 400 && missing.errorCode == "missing_parameter")
            let badID = try await live.get("/attestation/nope?process-id=\(pid)")
            #expect(badID.status == 400 && badID.errorCode == "invalid_id")
            let unknown = try await live.get("/attestation/\(m1)?process-id=\(ScriptedNode.unknownProcess.base64URL)")
            #expect(unknown.status == 404 && unknown.errorCode == "unknown_process")
        }
    }

    @Test func routePrecedenceAndMethodErrorsOverHTTP() async throws {
        try await withLiveServer { live in
            #expect(try await live.get("/timestamp").json["block_height"] == "000001393008")  // not an id lookup
            let wrongMethod = try await live.request("POST", "/timestamp", body: [])
            #expect(wrongMethod.status == 405 && wrongMethod.errorCode == "method_not_allowed" && wrongMethod.header("Allow") == "GET")
            let getGraphQL = try await live.get("/graphql")
            #expect(getGraphQL.status == 405 && getGraphQL.header("Allow") == "POST")
            let nowhere = try await live.get("/processes")
            #expect(nowhere.status == 404 && nowhere.errorCode == "route_not_found")
            let deep = try await live.get("/a/b/c/d/e")
            #expect(deep.status == 404 && deep.errorCode == "route_not_found")
            let head = try await live.request("HEAD", "/timestamp")
            #expect(head.status == 200 && head.body.isEmpty)
            let preflight = try await live.request("OPTIONS", "/dry-run")
            #expect(preflight.status == 204 && preflight.header("Access-Control-Allow-Methods")?.contains("POST") == true)
        }
    }
}

@Suite struct HostileClientTests {
    @Test func trickledHeadersAreCutByTheIdleTimeout() async throws {
        var settings = testSettings()
        settings.idleTimeout = .milliseconds(300)
        try await withLiveServer(settings: settings) { live in
            let c = try RawConnection(port: live.port)
            c.send("GET /timestamp HTTP/1.1\r\nHost: x\r\n")  // never finishes the head
            // Without the idle timeout the connection never closes; the bound is loose because CI runs every
            // suite at once on two cores, where an event loop can wait seconds for a core.
            let (_, closed, seconds) = await c.readUntilClosed(timeoutSeconds: 90)
            #expect(closed && seconds < 60, "closed: \(closed) after \(seconds) s")
            // the server still serves others
            #expect(try await live.get("/timestamp").status == 200)
        }
    }

    @Test func trickledBodyIsCutByTheBodyTimeout() async throws {
        var settings = testSettings()
        settings.idleTimeout = .seconds(600)
        settings.bodyReadTimeout = .milliseconds(300)
        let node = ScriptedNode()
        try await withLiveServer(node, settings: settings) { live in
            let c = try RawConnection(port: live.port)
            c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
            let (_, closed, seconds) = await c.readUntilClosed(timeoutSeconds: 90)
            #expect(closed && seconds < 60, "closed: \(closed) after \(seconds) s")  // long before the 600 s idle timeout
        }
        #expect(node.record.submitted.isEmpty)
    }

    @Test func stuckNodeCallIsAbandonedAfterTheHandlerTimeout() async throws {
        var settings = testSettings()
        settings.handlerTimeout = .milliseconds(300)
        try await withLiveServer(settings: settings) { live in
            let start = ContinuousClock.now
            let r = try await live.get("/timestamp?process-id=\(ScriptedNode.stuckProcess.base64URL)")
            #expect(r.status == 503 && r.errorCode == "timed_out" && r.header("Retry-After") == "1")
            // The node call ignores cancellation and takes ScriptedNode.stuckSeconds (600 s).
            #expect(ContinuousClock.now - start < .seconds(60))
        }
    }
}

@Suite struct HarnessAndBodylessRouteTests {
    /// The same server through HummingbirdTesting's own live harness (AsyncHTTPClient against an ephemeral port):
    /// `application(onListening:)` is what the node shell will hand to its ServiceGroup.
    @Test func hummingbirdTestingHarness() async throws {
        var logger = Logger(label: "aohttp.test")
        logger.logLevel = .critical
        let server = AOHTTPServer(queries: ScriptedNode(), settings: testSettings(), logger: logger)
        try await server.application().test(.ahc(.http)) { client in
            let response = try await client.execute(uri: "/timestamp", method: .get)
            #expect(response.status.code == 200)
            let body = Array(response.body.readableBytesView)
            #expect(try JSONValue.parse(body) == .object([("timestamp", "1711676638600"), ("block_height", "000001393008")]))
            let missing = try await client.execute(uri: "/result/\(ScriptedNode.message1.base64URL)", method: .get)
            #expect(missing.status.code == 400)
        }
    }

    @Test func largeBodyOnABodylessRouteIsRefused() async throws {
        var settings = testSettings()
        settings.idleTimeout = .seconds(600)  // so that only the refusal can close the connection within the bound
        try await withLiveServer(settings: settings) { live in
            let c = try RawConnection(port: live.port)
            c.send("GET /timestamp HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
            let (bytes, closed, seconds) = await c.readUntilClosed(timeoutSeconds: 90)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.hasPrefix("HTTP/1.1 413") && text.contains("\"code\":\"body_too_large\""), "\(text)")
            #expect(closed && seconds < 60, "closed: \(closed) after \(seconds) s")
        }
    }
}
