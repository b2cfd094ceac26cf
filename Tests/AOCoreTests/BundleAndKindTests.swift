import Foundation
import Testing
@testable import AOCore

@Suite struct BundleTests {
    @Test func fixtureBundlesParseAndEveryItemVerifies() throws {
        guard SharedFixtures.available else { return }
        let manifest = try SharedFixtures.json("MANIFEST.json")
        let bundles = try #require(manifest["bundles"] as? [[String: Any]])
        #expect(bundles.count == 3)
        for entry in bundles {
            let file = try #require(entry["file"] as? String)
            let bytes = try SharedFixtures.bytes(file)
            let bundle = try ANS104Bundle(parsing: bytes)
            #expect(bundle.serialized() == bytes, "\(file) re-serializes byte for byte")
            let expected = try #require((entry["expect"] as? [String: Any])?["items"] as? [[String: Any]])
            #expect(bundle.items.count == expected.count)
            for (item, e) in zip(bundle.items, expected) {
                #expect(item.id.base64URL == e["id"] as? String)
                try item.verify()
                #expect(item.rsaPSSSaltLength() == e["rsaPssSaltLength"] as? Int)
            }
        }
    }

    @Test func nestedBundleInsideARealSUItem() throws {
        guard SharedFixtures.available else { return }
        let item = try DataItem(parsing: SharedFixtures.bytes("items/ao-su-output_txt-L11.bin"))
        #expect(item.carriesBundle)
        let inner = try #require(try item.nestedBundle())
        #expect(inner.items.count == 2)
        for i in inner.items { try i.verify() }
        let assignment = try AOAssignment(inner.items[0])
        #expect(assignment.message == inner.items[1].id)
    }

    @Test func buildParseAndNest() throws {
        let a = try TestKeys.fullItem()
        let b = try DataItem.create(signer: TestKeys.ed25519, tags: [Tag("n", "v")], data: [])
        let bytes = ANS104Bundle.serialize([a, b])
        #expect(bytes.count == 32 + 2 * 64 + a.serializedByteCount + b.serializedByteCount)
        let parsed = try ANS104Bundle(parsing: bytes)
        #expect(parsed.items == [a, b])
        let outer = try DataItem.createBundle(signer: TestKeys.ed25519, items: [a, b], tags: [Tag("Extra", "1")])
        #expect(outer.tag("Bundle-Format") == "binary" && outer.tag("Bundle-Version") == "2.0.0")
        let reparsed = try DataItem(parsing: outer.serialized())
        try reparsed.verify()
        #expect(try reparsed.nestedBundle()?.items == [a, b])
        // Nested twice.
        let outer2 = try DataItem.createBundle(signer: TestKeys.ed25519, items: [outer])
        #expect(try outer2.nestedBundle()?.items.first?.nestedBundle()?.items == [a, b])
        #expect(try a.nestedBundle() == nil)
        #expect(try ANS104Bundle(parsing: ANS104Bundle.serialize([])).items.isEmpty)
    }

    @Test func malformedBundles() throws {
        let a = try TestKeys.fullItem()
        let good = ANS104Bundle.serialize([a])
        #expect(throws: BundleError.truncatedHeader) { try ANS104Bundle(parsing: Array(good[..<31])) }
        #expect(throws: BundleError.truncatedHeader) { try ANS104Bundle(parsing: Array(good[..<90])) }
        #expect(throws: BundleError.truncatedItems) { try ANS104Bundle(parsing: Array(good.dropLast())) }
        #expect(throws: BundleError.trailingBytes) { try ANS104Bundle(parsing: good + [0]) }
        var m = good; m[31] = 1
        #expect(throws: BundleError.numberTooLarge) { try ANS104Bundle(parsing: m) }
        m = good; m[0] = 0xff; m[1] = 0xff; m[2] = 0xff
        #expect(throws: BundleError.tooManyItems) { try ANS104Bundle(parsing: m) }
        m = good; m[32 + 32] ^= 1  // first byte of the header id
        #expect(throws: BundleError.idMismatch) { try ANS104Bundle(parsing: m) }
        m = good; m[32 + 64] = 9  // the item's signature type
        #expect(throws: BundleError.badItem) { try ANS104Bundle(parsing: m) }
    }
}

@Suite struct AOKindTests {
    @Test func realProcessMessageAndAssignment() throws {
        guard SharedFixtures.available else { return }
        // The SU's PROCESS_ITEM_STR is a pre-testnet spawn (`ao-type: process`, `Contract-Src`): not a Process today.
        let legacy = try DataItem(parsing: SharedFixtures.bytes("items/ao-su-json_rs-PROCESS_ITEM_STR.bin"))
        #expect(throws: AOKindError.wrongType) { try AOProcess(legacy) }
        #expect(AOKind.of(legacy) == nil)
        let message = try AOMessage(DataItem(parsing: SharedFixtures.bytes("items/ao-su-message-1-aoconnect-XxAng_IUpIPBuk35-jNWuN2eBPVytruzobiFwmSTt4I.bin")))
        #expect(message.process.base64URL == "Krim6GbXWi6x1eP1eEvEqX6z1Pnl0uGqr0ULKhErNVQ")
        #expect(AOKind.of(message.item) == .message)
        let assignment = try AOAssignment(DataItem(parsing: SharedFixtures.bytes("items/ao-su-message-0-assignment-qAxRmlZZTnQDKNqYTB5_8u8Cmk9J9-aVVee_bDZMlr0.bin")))
        #expect(assignment.epoch == 0)
        #expect(assignment.message?.base64URL == "XxAng_IUpIPBuk35-jNWuN2eBPVytruzobiFwmSTt4I")
        // The older SU assignment has no Type/Data-Protocol tags and still validates.
        let old = try AOAssignment(DataItem(parsing: SharedFixtures.bytes("items/ao-su-json_rs-ASSIGNMENT_ITEM_STR.bin")))
        #expect(old.nonce == 1 && old.blockHeight == 1_393_008 && old.timestamp == 1_711_676_638_471)
        // A message is not a process.
        #expect(throws: AOKindError.wrongType) { try AOProcess(message.item) }
    }

    func make(_ tags: [DataItemTag], target: ID32? = nil, data: [UInt8] = []) throws -> DataItem {
        try DataItem.create(signer: TestKeys.ed25519, target: target, tags: tags, data: data)
    }

    @Test func processRequiredTags() throws {
        let module = TestKeys.target.base64URL
        let p = try AOProcess(make([Tag("Data-Protocol", "ao"), Tag("Type", "Process"), Tag("Module", module),
                                    Tag("Scheduler", module), Tag("Scheduler-Replicas", "5"), Tag("Authority", "x"),
                                    Tag("Authority", "y")]))
        #expect(p.module.base64URL == module && p.scheduler?.base64URL == module && p.schedulerReplicas == 5)
        #expect(p.authorities == ["x", "y"])
        #expect(AOKind.of(p.item) == .process)
        #expect(p.id.raw == p.item.id.raw)
        let defaults = try AOProcess(make([Tag("Data-Protocol", "ao"), Tag("Type", "Process"), Tag("Module", module)]))
        #expect(defaults.schedulerReplicas == AOProcess.schedulerReplicasDefaultCount && defaults.scheduler == nil)
        #expect(throws: AOKindError.notAO) { try AOProcess(make([Tag("Type", "Process"), Tag("Module", module)])) }
        #expect(throws: AOKindError.missingTag) { try AOProcess(make([Tag("Data-Protocol", "ao"), Tag("Type", "Process")])) }
        #expect(throws: AOKindError.badTagValue) {
            try AOProcess(make([Tag("Data-Protocol", "ao"), Tag("Type", "Process"), Tag("Module", "short")]))
        }
        #expect(throws: AOKindError.badTagValue) {
            try AOProcess(make([Tag("Data-Protocol", "ao"), Tag("Type", "Process"), Tag("Module", module), Tag("Scheduler-Replicas", "0")]))
        }
        #expect(throws: AOKindError.unexpectedTarget) {
            try AOProcess(make([Tag("Data-Protocol", "ao"), Tag("Type", "Process"), Tag("Module", module)], target: TestKeys.target))
        }
        // lowercase names (HyperBEAM style) are matched.
        #expect(throws: Never.self) { try AOProcess(make([Tag("data-protocol", "ao"), Tag("type", "Process"), Tag("module", module)])) }
    }

    @Test func messageModuleAndSchedulerLocation() throws {
        let m = try AOMessage(make([Tag("Data-Protocol", "ao"), Tag("Type", "Message"), Tag("Action", "Eval")], target: TestKeys.target))
        #expect(m.action == "Eval" && m.process.raw == TestKeys.target)
        #expect(throws: AOKindError.missingTarget) { try AOMessage(make([Tag("Data-Protocol", "ao"), Tag("Type", "Message")])) }
        let mod = try AOModule(make([Tag("Data-Protocol", "ao"), Tag("Type", "Module"), Tag("Module-Format", "wasm32-unknown-emscripten4"),
                                     Tag("Input-Encoding", "JSON-1"), Tag("Output-Encoding", "JSON-1"), Tag("Memory-Limit", "1-gb")],
                                    data: [0, 0x61, 0x73, 0x6d]))
        #expect(mod.moduleFormat == "wasm32-unknown-emscripten4" && mod.memoryLimit == "1-gb" && mod.computeLimit == nil)
        #expect(throws: AOKindError.missingTag) {
            try AOModule(make([Tag("Data-Protocol", "ao"), Tag("Type", "Module"), Tag("Module-Format", "x")]))
        }
        let loc = try AOSchedulerLocation(make([Tag("data-protocol", "ao"), Tag("type", "scheduler-location"),
                                                 Tag("url", "https://su.example"), Tag("time-to-live", "3600000")]))
        #expect(loc.url == "https://su.example" && loc.timeToLiveMilliseconds == 3_600_000)
        #expect(loc.scheduler == TestKeys.ed25519.address)
        #expect(throws: AOKindError.badTagValue) {
            try AOSchedulerLocation(make([Tag("Data-Protocol", "ao"), Tag("Type", "Scheduler-Location"), Tag("Url", "https://x"),
                                          Tag("Time-To-Live", "1h")]))
        }
    }

    @Test func assignmentRequiredTags() throws {
        let pid = TestKeys.target.base64URL
        let chain = Base64URL.encode([UInt8](repeating: 3, count: 32))
        let tags = [Tag("Process", pid), Tag("Epoch", "0"), Tag("Nonce", "7"), Tag("Hash-Chain", chain),
                    Tag("Block-Height", "000001393008"), Tag("Timestamp", "1711676638471"), Tag("Data-Protocol", "ao"),
                    Tag("Type", "Assignment"), Tag("Variant", "ao.TN.1"), Tag("Message", pid)]
        let a = try AOAssignment(make(tags))
        #expect(a.nonce == 7 && a.blockHeight == 1_393_008 && a.message?.base64URL == pid)
        for drop in ["Process", "Epoch", "Nonce", "Hash-Chain", "Block-Height", "Timestamp"] {
            #expect(throws: AOKindError.missingTag, "without \(drop)") { try AOAssignment(make(tags.filter { $0.nameString != drop })) }
        }
        var bad = tags; bad[2] = Tag("Nonce", "-1")
        #expect(throws: AOKindError.badTagValue) { try AOAssignment(make(bad)) }
        bad = tags; bad[3] = Tag("Hash-Chain", "abc")
        #expect(throws: AOKindError.badTagValue) { try AOAssignment(make(bad)) }
        bad = tags; bad[7] = Tag("Type", "Message")
        #expect(throws: AOKindError.wrongType) { try AOAssignment(make(bad)) }
    }
}
