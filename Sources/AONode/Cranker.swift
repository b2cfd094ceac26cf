import AOCompute
import AOCore
import AOScheduling
import AOStore
import AOStoreLMDB
import Foundation
import Logging

/// Cranking (DESIGN.md §6): when this node leads the scheduling group of a process, the outboxes of its evaluated
/// results are pushed as data items signed with the node key, through `NodeRuntime.accept` (stored durably,
/// gossiped, handed to the target's scheduler, which dedupes on (From-Process, Reference): a retry after a restart or
/// a leader change is harmless).
///
/// - `Messages[i]` become messages as AO's MU builds them (ao-protocol.md 1.4): the outbox tags minus
///   `Data-Protocol`, `Type`, `From-Process`, `From-Module`, `Assignments`; `Variant=ao.TN.1` when absent; then
///   `Data-Protocol=ao`, `Type=Message`, `From-Process=<sender>`, `From-Module=<sender's Module>`,
///   `Pushed-For=<the user message that started the chain>` (the producing message's own `Pushed-For`, else its id).
///   Target, Anchor and Data as the outbox says; `Reference` is kept (it is the dedupe key).
/// - `Spawns[i]` become Process items: the spawn's tags minus `Data-Protocol`, `Type`, `From-Process`; `Variant` when
///   absent; `Data-Protocol=ao`, `Type=Process`, `From-Process`, `Pushed-For`; `Module` and `Scheduler` default to the
///   parent's. A spawn already pushed (a Process item with the same From-Process and Reference in the store) is not
///   pushed again. Then the parent gets the `Action=Spawned` notice (ao-protocol.md 1.9, `Process=<new pid>`).
/// - `Assignments` are not pushed yet (aop-1 assign is not supported by the node).
/// - Progress: KV `crank.done`, key = process id, value = the next slot to push (8 bytes big-endian). A target this
///   node does not know yet (it may arrive by gossip) stops the process's crank with a log line; it is retried
///   every `pauseRetrySeconds` and on the next evaluation.
extension ComputeService {
    static let crankNamespace = "crank.done"

    func triggerCrank(_ p: ProcessID) {
        guard let runtime else { return }
        let start: Bool = lock.withLock {
            guard !stopping else { return false }
            let w = workItem(p)
            if w.cranking { w.crankAgain = true; return false }
            w.cranking = true
            return true
        }
        guard start else { return }
        Task { [self] in
            var again = true
            while again {
                self.lock.withLock { self.work[p]?.crankAgain = false }
                await self.crankOnce(p, runtime: runtime)
                again = self.lock.withLock {
                    guard let w = self.work[p] else { return false }
                    if w.crankAgain && !self.stopping { return true }
                    w.cranking = false
                    return false
                }
            }
        }
    }

    func crankWatermark(_ p: ProcessID) -> UInt64 {
        guard let v = try? store.value(namespace: Self.crankNamespace, key: p.bytes), v.count == 8 else { return 0 }
        return v.reduce(0) { $0 << 8 | UInt64($1) }
    }

    func setCrankWatermark(_ p: ProcessID, _ next: UInt64) {
        do {
            _ = try store.write(WriteBatch(keyValues: [.put(namespace: Self.crankNamespace, key: p.bytes, value: NodeRuntime.be(next))]))
        } catch {
            logger.error("cannot record crank progress", metadata: ["process": "\(p.base64URL)", "error": "\(error)"])
        }
    }

    /// Pushes the outboxes of evaluated slots not pushed yet, in slot order, while this node leads `p`'s group.
    func crankOnce(_ p: ProcessID, runtime: NodeRuntime) async {
        guard await runtime.isLeader(of: p) else { return }
        var next = crankWatermark(p)
        let start = next
        defer { if next != start { setCrankWatermark(p, next) } }
        while !lock.withLock({ stopping }) {
            guard let evaluated = lock.withLock({ work[p]?.evaluated }), Int64(next) <= evaluated,
                  let result = cachedResult(p, slot: next) else { return }
            // The crons that ran between slot next-1 and this one come first (timeline order); they were kept in
            // the same flush as this slot's result.
            if next > 0 {
                guard await pushCrons(p, after: next - 1, runtime: runtime) else {
                    DispatchQueue.global().asyncAfter(deadline: .now() + Self.pauseRetrySeconds) { [weak self] in self?.triggerCrank(p) }
                    return
                }
            }
            if !result.messages.isEmpty || !result.spawns.isEmpty {
                guard await push(p, slot: next, result: result, runtime: runtime) else {
                    DispatchQueue.global().asyncAfter(deadline: .now() + Self.pauseRetrySeconds) { [weak self] in self?.triggerCrank(p) }
                    return
                }
                setCrankWatermark(p, next + 1)
            }
            next += 1
        }
    }

    /// Pushes the outboxes of the crons evaluated after `slot` (before the next scheduled message). Pushes are
    /// deduplicated by the target's scheduler, so a retry from the first of them is harmless.
    func pushCrons(_ p: ProcessID, after slot: UInt64, runtime: NodeRuntime) async -> Bool {
        guard let e = try? store.assignment(process: p, slot: slot), let item = try? store.item(e.assignmentID),
              let a = try? AOAssignment(item) else { return true }  // no cron can be kept without the slot's assignment
        var start = CronPosition(timestamp: Int64(a.timestamp), ordinate: Int64(slot), index: 0, interval: "")
        var first = true
        while true {
            let batch = (try? cronResults(p, after: first ? nil : start, atOrAfter: first ? start : nil, limit: 256)) ?? []
            first = false
            for (pos, r) in batch {
                guard pos.ordinate == Int64(slot) else { return true }
                start = pos
                if r.messages.isEmpty && r.spawns.isEmpty { continue }
                guard await push(p, slot: slot, result: r, runtime: runtime, cron: pos) else { return false }
            }
            if batch.count < 256 { return true }
        }
    }

    static func tags(_ v: AOCompute.JSONValue?) -> [Tag] {
        (v?.arrayValue ?? []).compactMap { t in
            guard let n = t["name"]?.stringValue else { return nil }
            let value: String
            switch t["value"] {
            case .string(let s)?: value = s
            case .number(let d)?: value = d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
            case .bool(let b)?: value = b ? "true" : "false"
            default: return nil
            }
            return Tag(n, value)
        }
    }

    static func text(_ v: AOCompute.JSONValue?) -> String? {
        switch v {
        case .string(let s)?: return s
        case nil, .null?: return nil
        case let other?: return other.serialized()
        }
    }

    /// Pushes one slot's outbox. False when something must be retried later (the rest of the outbox too).
    /// A cron's outbox (`cron` set) has no producing message: no `Pushed-For`, and its default references name the cron.
    func push(_ p: ProcessID, slot: UInt64, result: AOCompute.EvaluationResult, runtime: NodeRuntime, cron: CronPosition? = nil) async -> Bool {
        guard let entry = try? store.assignment(process: p, slot: slot), let producing = try? store.item(entry.messageID),
              let processItem = try? store.item(MessageID(p)) else {
            logger.notice("crank: slot's items not on this node yet", metadata: ["process": "\(p.base64URL)", "slot": "\(slot)"])
            return false
        }
        let pushedFor = slot == 0 || cron != nil ? nil : (producing.tag("Pushed-For") ?? entry.messageID.base64URL)
        let site = cron.map { "cron-\($0.timestamp)-\($0.index)" } ?? "slot-\(slot)"
        let fromModule = processItem.tag("Module")
        for (i, m) in result.messages.enumerated() {
            guard let targetText = m["Target"]?.stringValue, let target = ID32(base64URL: targetText) else {
                logger.notice("crank: outbox message without a process Target skipped", metadata: ["process": "\(p.base64URL)", "slot": "\(slot)", "index": "\(i)"])
                continue
            }
            let drop: Set<String> = ["Data-Protocol", "Type", "From-Process", "From-Module", "Assignments"]
            var tags = Self.tags(m["Tags"]).filter { !drop.contains($0.nameString) }
            if !tags.contains(where: { $0.nameString == "Variant" }) { tags.append(Tag("Variant", "ao.TN.1")) }
            tags.append(Tag("Data-Protocol", "ao"))
            tags.append(Tag("Type", "Message"))
            tags.append(Tag("From-Process", p.base64URL))
            if let fromModule { tags.append(Tag("From-Module", fromModule)) }
            if let pushedFor { tags.append(Tag("Pushed-For", pushedFor)) }
            let reference = tags.first { $0.nameString == "Reference" }?.valueString ?? "\(site)-\(i)"
            let anchor = Self.text(m["Anchor"]).map { Array($0.utf8) }.flatMap { $0.count == 32 ? $0 : nil }
            let data = Array((Self.text(m["Data"]) ?? "").utf8)
            let item: DataItem
            do { item = try DataItem.create(signer: key, target: target, anchor: anchor, tags: tags, data: data) } catch {
                logger.warning("crank: outbox message cannot be signed; skipped", metadata: ["process": "\(p.base64URL)", "slot": "\(slot)", "error": "\(error)"])
                continue
            }
            if !(await runtime.isKnown(ProcessID(raw: target))) {
                // Not a process this node knows: it may arrive by gossip (retry), or be a wallet (a reply to a user),
                // which AO's MU would upload to Arweave instead; after `unknownTargetGiveUpSeconds` it is skipped.
                let key = "\(p.base64URL)/\(site)/\(i)"
                let first = lock.withLock { () -> Date in
                    if let d = unknownTargetSince[key] { return d }
                    unknownTargetSince[key] = Date(); return unknownTargetSince[key]!
                }
                if Date().timeIntervalSince(first) < unknownTargetGiveUpSeconds {
                    logger.notice("crank: target process not known here yet; retrying later",
                                  metadata: ["process": "\(p.base64URL)", "slot": "\(slot)", "target": "\(targetText)"])
                    return false
                }
                lock.withLock { _ = unknownTargetSince.removeValue(forKey: key) }
                logger.notice("crank: target is not a known process (a wallet?); not pushed",
                              metadata: ["process": "\(p.base64URL)", "slot": "\(slot)", "target": "\(targetText)"])
                continue
            }
            guard await accept(item, key: OutboxKey(fromProcess: p, reference: reference), runtime: runtime, p: p, slot: slot) else { return false }
        }
        for (i, s) in result.spawns.enumerated() {
            guard await spawn(s, index: i, parent: p, slot: slot, site: site, processItem: processItem, pushedFor: pushedFor, runtime: runtime) else { return false }
        }
        return true
    }

    func accept(_ item: DataItem, key: OutboxKey?, runtime: NodeRuntime, p: ProcessID, slot: UInt64) async -> Bool {
        do {
            _ = try await runtime.accept(item, bytes: item.serialized(), outboxKey: key)
            return true
        } catch {
            switch error {
            case .unknownProcess(let t):
                logger.notice("crank: target process not known here yet; retrying later",
                              metadata: ["process": "\(p.base64URL)", "slot": "\(slot)", "target": "\(t.base64URL)"])
            default:
                logger.warning("crank: push refused; retrying later", metadata: ["process": "\(p.base64URL)", "slot": "\(slot)", "error": "\(error)"])
            }
            return false
        }
    }

    func spawn(_ s: AOCompute.JSONValue, index: Int, parent p: ProcessID, slot: UInt64, site: String, processItem: DataItem, pushedFor: String?,
               runtime: NodeRuntime) async -> Bool {
        let spawnTags = Self.tags(s["Tags"])
        let reference = spawnTags.first { $0.nameString == "Reference" }?.valueString ?? "\(site)-spawn-\(index)"
        // Already pushed (by this node before a restart, or by an earlier leader)?
        var child: MessageID?
        if let page = try? store.transactions(TransactionQuery(tags: [TagFilter("Type", ["Process"]), TagFilter("From-Process", [p.base64URL]),
                                                                      TagFilter("Reference", [reference])], first: 1, order: .oldestFirst)) {
            child = page.ids.first
        }
        if child == nil {
            let drop: Set<String> = ["Data-Protocol", "Type", "From-Process"]
            var tags = spawnTags.filter { !drop.contains($0.nameString) }
            if !tags.contains(where: { $0.nameString == "Variant" }) { tags.append(Tag("Variant", "ao.TN.1")) }
            tags.append(Tag("Data-Protocol", "ao"))
            tags.append(Tag("Type", "Process"))
            tags.append(Tag("From-Process", p.base64URL))
            if let pushedFor { tags.append(Tag("Pushed-For", pushedFor)) }
            if !tags.contains(where: { $0.nameString == "Module" }), let m = processItem.tag("Module") { tags.append(Tag("Module", m)) }
            if !tags.contains(where: { $0.nameString == "Scheduler" }), let sch = processItem.tag("Scheduler") { tags.append(Tag("Scheduler", sch)) }
            let anchor = Self.text(s["Anchor"]).map { Array($0.utf8) }.flatMap { $0.count == 32 ? $0 : nil }
            let data = Array((Self.text(s["Data"]) ?? "NODATA").utf8)
            let item: DataItem
            do {
                item = try DataItem.create(signer: key, anchor: anchor, tags: tags, data: data)
                _ = try AOProcess(item)
            } catch {
                logger.warning("crank: spawn is not a valid process; skipped", metadata: ["process": "\(p.base64URL)", "slot": "\(slot)", "error": "\(error)"])
                return true
            }
            guard await accept(item, key: nil, runtime: runtime, p: p, slot: slot) else { return false }
            child = item.id
            logger.info("crank: spawned", metadata: ["parent": "\(p.base64URL)", "process": "\(item.id.base64URL)"])
        }
        // The Spawned notice to the parent (no From-Process: it comes from the pushing node).
        let drop: Set<String> = ["Data-Protocol", "Variant", "Type", "From-Process", "From-Module"]
        var tags = spawnTags.filter { !drop.contains($0.nameString) }
        tags += [Tag("Data-Protocol", "ao"), Tag("Type", "Message"), Tag("Process", child!.base64URL), Tag("Action", "Spawned"),
                 Tag("Variant", "ao.TN.1")]
        guard let notice = try? DataItem.create(signer: key, target: p.raw, tags: tags, data: []) else { return true }
        return await accept(notice, key: OutboxKey(fromProcess: p, reference: "Spawned-" + reference), runtime: runtime, p: p, slot: slot)
    }
}
