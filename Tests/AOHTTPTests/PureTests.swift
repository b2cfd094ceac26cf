import AOCore
import Foundation
import Testing

@testable import AOHTTP

/// Pure parts: routing precedence, query parsing, JSON, cursors, GraphQL parsing, the token bucket.
@Suite struct RoutingTests {
    static let pid = ScriptedNode.processID.base64URL

    @Test(arguments: [
        ("GET", "/", Route.Match.route(.schedulerLocation)),
        ("POST", "/", .route(.submit)),
        ("GET", "/timestamp", .route(.timestamp)),
        ("GET", "/timestamp/", .route(.timestamp)),
        ("GET", "/health", .route(.health)),
        ("GET", "/metrics", .route(.metrics)),
        ("GET", "/peers", .route(.peers)),
        ("POST", "/graphql", .route(.graphql)),
        ("POST", "/dry-run", .route(.dryRun)),
        ("GET", "/\(pid)", .route(.suLookup(id: pid))),
        ("HEAD", "/\(pid)", .route(.suLookup(id: pid))),
        ("GET", "/\(pid)/latest", .route(.latest(process: pid))),
        ("GET", "/processes/\(pid)", .route(.processInfo(process: pid))),
        ("GET", "/processes/\(pid)/scheduler", .route(.schedulerGroup(process: pid))),
        ("GET", "/result/\(pid)", .route(.result(message: pid))),
        ("GET", "/results/\(pid)", .route(.results(process: pid))),
        ("GET", "/state/\(pid)", .route(.state(process: pid))),
        ("GET", "/cron/\(pid)", .route(.cron(process: pid))),
        ("GET", "/raw/\(pid)", .route(.raw(id: pid))),
        ("GET", "/items/\(pid)", .route(.item(id: pid))),
        ("GET", "/attestation/\(pid)", .route(.attestation(message: pid))),
        ("GET", "/attestation", .notFound),
        ("POST", "/attestation/\(pid)", .methodNotAllowed(allowed: ["GET"])),
        ("GET", "/attestation/\(pid)/x", .notFound),
        // fixed names win over an id in the same position
        ("GET", "/processes/latest", .route(.processInfo(process: "latest"))),
        ("GET", "/processes", .notFound),
        ("GET", "/result", .notFound),
        ("GET", "/\(pid)/other", .notFound),
        ("GET", "/a/b/c/d", .notFound),
        ("POST", "/timestamp", .methodNotAllowed(allowed: ["GET"])),
        ("GET", "/graphql", .methodNotAllowed(allowed: ["POST"])),
        ("GET", "/dry-run", .methodNotAllowed(allowed: ["POST"])),
        ("DELETE", "/", .methodNotAllowed(allowed: ["GET", "POST"])),
        ("POST", "/\(pid)", .methodNotAllowed(allowed: ["GET"])),
    ] as [(String, String, Route.Match)])
    func match(method: String, path: String, expected: Route.Match) {
        #expect(Route.match(method: method, path: path) == expected)
    }

    @Test func queryParsing() throws {
        let q = try QueryParameters(parsing: "process-id=abc&base-layer&exclude=Data%2CAnchor&x=a+b&x=second")
        #expect(q["process-id"] == "abc")
        #expect(q.has("base-layer") && q["base-layer"] == "")
        #expect(q["exclude"] == "Data,Anchor")
        #expect(q["x"] == "a b")  // first occurrence wins
        #expect(throws: APIError.self) { try QueryParameters(parsing: "a=%zz") }
        #expect(throws: APIError.self) { try QueryParameters(parsing: "a=%ff") }  // not UTF-8
        let many = (0...HTTPLimits.queryParametersMax).map { "p\($0)=1" }.joined(separator: "&")
        #expect { try QueryParameters(parsing: many) } throws: { ($0 as? APIError)?.status == 414 }
        #expect { try QueryParameters(parsing: String(repeating: "a", count: HTTPLimits.queryBytesMax + 1)) } throws: {
            ($0 as? APIError)?.code == "query_too_large"
        }
    }
}

@Suite struct JSONTests {
    @Test func serializesInOrderWithEscapes() {
        let v: JSONValue = .object([("b", 1), ("a", .string("q\"\\\n\u{01}é")), ("n", nil), ("l", [true, .double(1.5)])])
        #expect(v.serialized == #"{"b":1,"a":"q\"\\\n\u0001é","n":null,"l":[true,1.5]}"#)
    }

    @Test func parsesAndRoundTrips() throws {
        let text = #"{"Id":"1234","Tags":[{"name":"Action","value":"Balance"}],"n":-12,"f":2.5e-3,"u":"\u00e9\ud83d\ude00","z":[]}"#
        let v = try JSONValue.parse(Array(text.utf8))
        #expect(v["n"] == .integer(-12))
        #expect(v["f"] == .double(0.0025))
        #expect(v["u"] == .string("é😀"))
        #expect(try JSONValue.parse(v.serializedBytes) == v)
    }

    @Test(arguments: ["", "{", "[1,]", "01", "\"\\ud800\"", "{\"a\":1} x", "tru", "\"a\u{01}\"", "[1 2]"])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func depthIsBounded() {
        let deep = String(repeating: "[", count: HTTPLimits.jsonDepthMax + 2) + String(repeating: "]", count: HTTPLimits.jsonDepthMax + 2)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(deep.utf8)) }
        let ok = String(repeating: "[", count: HTTPLimits.jsonDepthMax) + String(repeating: "]", count: HTTPLimits.jsonDepthMax)
        #expect((try? JSONValue.parse(Array(ok.utf8))) != nil)
    }
}

@Suite struct CursorTests {
    /// The example cursor of ao-protocol.md 3.3, byte for byte.
    @Test func matchesAOsCUExample() {
        let cursor = AOShapes.encodeCursor(ResultsCursor(timestamp: 1_711_676_638_471, ordinate: "5"), sort: .ascending)
        #expect(cursor == "eyJ0aW1lc3RhbXAiOjE3MTE2NzY2Mzg0NzEsIm9yZGluYXRlIjoiNSIsInNvcnQiOiJBU0MifQ==")
        #expect(AOShapes.decodeCursor(cursor) == ResultsCursor(timestamp: 1_711_676_638_471, ordinate: "5", sort: .ascending))
    }

    @Test func cronKeyAndPlainTimestamps() {
        let c = ResultsCursor(timestamp: 5, ordinate: "2", cron: "1-10-minutes", sort: .descending)
        let text = AOShapes.encodeCursor(c, sort: .descending)
        #expect(String(decoding: Data(base64Encoded: text)!, as: UTF8.self)
                == #"{"timestamp":5,"ordinate":"2","cron":"1-10-minutes","sort":"DESC"}"#)
        #expect(AOShapes.decodeCursor(text) == c)
        #expect(AOShapes.decodeCursor("1711676638471") == ResultsCursor(timestamp: 1_711_676_638_471))
        #expect(AOShapes.decodeCursor("not a cursor!") == nil)
        #expect(AOShapes.decodeCursor(Data("[1]".utf8).base64EncodedString()) == nil)
    }

    @Test func paddedHeight() {
        #expect(AOShapes.paddedHeight(1_393_008) == "000001393008")
        #expect(AOShapes.paddedHeight(0) == "000000000000")
        #expect(AOShapes.paddedHeight(1_234_567_890_123) == "1234567890123")
    }
}

@Suite struct GraphQLParserTests {
    /// scheduler-utils' `GetSchedulerLocation`, verbatim in shape (comment included).
    static let schedulerLocationQuery = """
        query GetSchedulerLocation ($owner: String!) {
          transactions (
            owners: [$owner]
            tags: [
              { name: "Data-Protocol", values: ["ao"] },
              { name: "Type", values: ["Scheduler-Location"] }
            ]
            # Only need the most recent Scheduler-Location
            sort: HEIGHT_DESC
            first: 1
          ) {
            edges {
              node {
                tags {
                  name
                  value
                }
              }
            }
          }
        }
        """

    @Test func parsesSchedulerLocationQuery() throws {
        let op = try GraphQL.parse(Self.schedulerLocationQuery)
        #expect(op.name == "GetSchedulerLocation")
        #expect(op.selections.count == 1 && op.selections[0].name == "transactions")
        let owner = ScriptedNode.schedulerAddress.base64URL
        var args: [(String, JSONValue)] = []
        for (n, v) in op.selections[0].arguments {
            args.append((n, try GraphQL.resolve(v, variables: .object([("owner", .string(owner))]), defaults: op.variableDefaults)))
        }
        let q = try GraphQL.transactionsQuery(args)
        #expect(q.owners == [ScriptedNode.schedulerAddress])
        #expect(q.tags == [.init(name: "Data-Protocol", values: ["ao"]), .init(name: "Type", values: ["Scheduler-Location"])])
        #expect(q.sort == .heightDescending && q.first == 1)
    }

    @Test(arguments: [
        "mutation { x }", "{ transactions { ...F } }", "query { transactions @skip(if: true) { edges } }",
        "{ transactions(first: \"\"\"x\"\"\") { edges } }", "{ transactions { edges }", "{ } ", "query Q { a } query R { b }",
        "{ transactions(ids: [\"a\" \"b\") { edges } }",
    ])
    func rejectsUnsupported(_ text: String) {
        #expect(throws: GraphQL.Failure.self) { try GraphQL.parse(text) }
    }

    @Test func limitsListsAndDepth() {
        let ids = (0...HTTPLimits.graphqlListCountMax).map { _ in "\"\(ScriptedNode.processID.base64URL)\"" }.joined(separator: ",")
        #expect(throws: GraphQL.Failure.self) { try GraphQL.parse("{ transactions(ids: [\(ids)]) { edges { cursor } } }") }
        let deep = String(repeating: "{ a ", count: HTTPLimits.graphqlDepthMax + 1) + String(repeating: "}", count: HTTPLimits.graphqlDepthMax + 1)
        #expect(throws: GraphQL.Failure.self) { try GraphQL.parse(deep) }
        #expect(throws: GraphQL.Failure.self) { try GraphQL.transactionsQuery([("first", .integer(101))]) }
        #expect(throws: GraphQL.Failure.self) { try GraphQL.transactionsQuery([("block", .object([("min", 1)]))]) }
        #expect(throws: GraphQL.Failure.self) { try GraphQL.transactionsQuery([("ids", .array(["short"]))]) }
    }
}

@Suite struct TokenBucketTests {
    @Test func burstThenRefill() {
        var table = TokenBucketTable(settings: .init(ratePerSecond: 2, burst: 3))
        let second: UInt64 = 1_000_000_000
        for _ in 0..<3 { #expect(table.onRequest(client: "a", nowNanoseconds: 0) == .allowed) }
        // empty: the next token comes in 1/2 s
        #expect(table.onRequest(client: "a", nowNanoseconds: 0) == .refused(retryAfterNanoseconds: second / 2))
        #expect(table.onRequest(client: "b", nowNanoseconds: 0) == .allowed)  // per client
        #expect(table.onRequest(client: "a", nowNanoseconds: second / 2) == .allowed)
        #expect(table.onRequest(client: "a", nowNanoseconds: second / 2) != .allowed)
        // after a long idle time the bucket is full again, never more than the burst
        for _ in 0..<3 { #expect(table.onRequest(client: "a", nowNanoseconds: 100 * second) == .allowed) }
        #expect(table.onRequest(client: "a", nowNanoseconds: 100 * second) != .allowed)
    }

    @Test func tableSizeIsBounded() {
        var table = TokenBucketTable(settings: .init(ratePerSecond: 1, burst: 2), clientsMax: 50)
        for i in 0..<1000 { _ = table.onRequest(client: "c\(i)", nowNanoseconds: UInt64(i)) }
        #expect(table.clientCount <= 50)
        // A client that is still limited is kept over idle ones when there is room to drop idle ones.
        var t2 = TokenBucketTable(settings: .init(ratePerSecond: 1, burst: 1), clientsMax: 3)
        _ = t2.onRequest(client: "idle1", nowNanoseconds: 0)
        _ = t2.onRequest(client: "idle2", nowNanoseconds: 0)
        _ = t2.onRequest(client: "hot", nowNanoseconds: 10_000_000_000)
        _ = t2.onRequest(client: "new", nowNanoseconds: 10_000_000_001)  // evicts the refilled idle ones
        #expect(t2.clientCount == 2)
        #expect(t2.onRequest(client: "hot", nowNanoseconds: 10_000_000_002) != .allowed)
    }
}

@Suite struct DataItemViewTests {
    /// A real signed ed25519 item, parsed by AOCore, rendered in the SU message shape.
    @Test func viewOfARealDataItem() throws {
        let key = Ed25519PrivateKey(seed: [UInt8](repeating: 7, count: 32))!
        let item = try DataItem.create(signer: key, target: ScriptedNode.processID.raw, anchor: nil,
                                       tags: [DataItemTag("Data-Protocol", "ao"), DataItemTag("Type", "Message")],
                                       data: Array("ping".utf8))
        let parsed = try DataItem(parsing: item.serialized())
        let view = DataItemView(parsed)
        #expect(view.id == parsed.id && view.tag("Type") == "Message" && view.signatureType == 2)
        #expect(view.ownerAddress == parsed.ownerAddress.base64URL)
        let json = AOShapes.suMessage(view, isProcessEntry: false)
        #expect(json["target"] == .string(ScriptedNode.processID.base64URL))
        #expect(json["data"] == "ping")
        #expect(json["owner"]?["key"] == .string(Base64URL.encode(parsed.owner)))
    }
}
