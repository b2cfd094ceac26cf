import AOCore
import AOStore
import AOStoreLMDB
import Foundation

/// Builds each store under test fresh. The conformance suite runs once per factory (CONVENTIONS.md C5).
struct StoreFactory: CustomStringConvertible, Sendable {
    let name: String
    let make: @Sendable () throws -> (any ContentStore, cleanup: @Sendable () -> Void)
    var description: String { name }

    static let memory = StoreFactory(name: "memory") { (MemoryContentStore(), {}) }
    static let lmdb = StoreFactory(name: "lmdb") {
        let dir = temporaryDirectory("conformance")
        var options = LMDBStoreOptions()
        options.mapBytesInitial = 1 << 20   // small, so the suite also exercises map growth
        let store = try LMDBContentStore(directory: dir, options: options)
        return (store, { store.close(); try? FileManager.default.removeItem(atPath: dir) })
    }
    static let all = [memory, lmdb]
}

func temporaryDirectory(_ label: String) -> String {
    let path = NSTemporaryDirectory() + "aonode-store-\(label)-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Deterministic keys and items for tests.
enum Fixture {
    static func key(_ n: UInt8) -> Ed25519PrivateKey { Ed25519PrivateKey(seed: [UInt8](repeating: n, count: 32))! }

    static func item(key k: Ed25519PrivateKey = key(1), target: ID32? = nil, tags: [Tag] = [], data: String) -> DataItem {
        try! DataItem.create(signer: k, target: target, tags: tags, data: Array(data.utf8))
    }

    static func id32(_ n: UInt8) -> ID32 { ID32(bytes: [UInt8](repeating: n, count: 32))! }
    static func process(_ n: UInt8) -> ProcessID { ProcessID(raw: id32(n)) }
    static func message(_ n: UInt8) -> MessageID { MessageID(raw: id32(n)) }
}

extension ContentStore {
    @discardableResult
    func put(_ items: [DataItem]) throws -> WriteReceipt {
        try write(WriteBatch(items: items.map { ItemWrite(bytes: $0.serialized(), expectedID: $0.id) }))
    }
}
