import AOCore

extension ComputeTag {
    init(_ tag: Tag) { self.init(tag.nameString, tag.valueString) }
}

extension ScheduledMessage {
    /// The message at a committed slot, from the assignment and the message's data item (ao-protocol.md 3.5: Id,
    /// Signature and Owner address from the item, Target = the assignment's Process, Data as UTF-8 text, the anchor as
    /// text when it is printable ASCII — as AO's 32-character anchors are — else base64url).
    public init(assignment: AOAssignment, message: DataItem) {
        let anchor: String? = message.anchor.map { a in
            a.allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? String(decoding: a, as: UTF8.self) : Base64URL.encode(a)
        }
        self.init(slot: Int64(assignment.nonce), epoch: Int64(assignment.epoch), timestamp: Int64(assignment.timestamp),
                  blockHeight: Int64(assignment.blockHeight), hashChain: assignment.hashChain, id: message.id.base64URL,
                  signature: Base64URL.encode(message.signature), owner: message.ownerAddress.base64URL,
                  target: assignment.process.base64URL, anchor: anchor, data: String(decoding: message.data, as: UTF8.self),
                  tags: message.tags.map(ComputeTag.init))
    }
}

extension ProcessDefinition {
    /// The process being computed, from its spawn item and its module item. `timestamp` and `blockHeight` are those
    /// of the process's own assignment (slot 0): the origin of its crons.
    public init(process: AOProcess, module: AOModule, timestamp: Int64, blockHeight: Int64) {
        self.init(id: process.id.base64URL, owner: process.item.ownerAddress.base64URL,
                  tags: process.item.tags.map(ComputeTag.init), moduleID: module.id.base64URL,
                  moduleOwner: module.item.ownerAddress.base64URL, moduleTags: module.item.tags.map(ComputeTag.init),
                  timestamp: timestamp, blockHeight: blockHeight)
    }
}

extension ProcessModule {
    /// Parses the module data item's binary with its `Module-Format` tag.
    public init(module: AOModule) throws(ComputeError) {
        guard let format = ModuleFormat(tag: module.moduleFormat) else { throw .unsupportedFormat(module.moduleFormat) }
        try self.init(bytes: module.item.data, format: format)
    }
}
