import AOCore
@testable import AOTransport

func key(_ n: UInt8) -> Ed25519PrivateKey { Ed25519PrivateKey(seed: [UInt8](repeating: n, count: 32))! }
func ephemeral(_ n: UInt8) -> [UInt8] { [UInt8](repeating: n &+ 100, count: 32) }

/// Two connection cores wired back to back in memory, for pure tests.
struct CorePair {
    var initiator: ConnectionCore
    var responder: ConnectionCore
    var toResponder: [[UInt8]] = []  // records written by the initiator, not yet delivered
    var toInitiator: [[UInt8]] = []
    var initiatorOut: [ConnectionCore.Directive] = []
    var responderOut: [ConnectionCore.Directive] = []

    init(initiatorKey: Ed25519PrivateKey = key(1), responderKey: Ed25519PrivateKey = key(2), expecting: NodeID? = nil,
         limits: TransportLimits = .default, prologueI: [UInt8] = [], prologueR: [UInt8] = []) {
        initiator = ConnectionCore(role: .initiator, localKey: initiatorKey, ephemeralSecret: ephemeral(1), expectedPeer: expecting,
                                   prologue: prologueI, limits: limits)
        responder = ConnectionCore(role: .responder, localKey: responderKey, ephemeralSecret: ephemeral(2), prologue: prologueR, limits: limits)
        collect(initiator.start(), fromInitiator: true)
    }

    mutating func collect(_ ds: [ConnectionCore.Directive], fromInitiator: Bool) {
        for d in ds {
            if case .write(let b) = d { if fromInitiator { toResponder.append(b) } else { toInitiator.append(b) } }
            else if fromInitiator { initiatorOut.append(d) } else { responderOut.append(d) }
        }
    }

    /// Delivers queued records both ways until quiet.
    mutating func pump() {
        while !toResponder.isEmpty || !toInitiator.isEmpty {
            let a = toResponder; toResponder = []
            for r in a { collect(responder.onBytesReceived(r), fromInitiator: false) }
            let b = toInitiator; toInitiator = []
            for r in b { collect(initiator.onBytesReceived(r), fromInitiator: true) }
        }
    }

    var established: Bool { initiator.isEstablished && responder.isEstablished }
}

func closeReason(_ ds: [ConnectionCore.Directive]) -> CloseReason? {
    for d in ds { if case .close(let r, _) = d { return r } }
    return nil
}
