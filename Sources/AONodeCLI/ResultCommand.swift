import AOClient
import AOCore
import AONode
import ArgumentParser
import Foundation

/// `aonode result --node URL[,URL...] --process ID --message ID [--wait S] [--quorum K] [--trust KEYS | --network FILE]`
public struct ResultCommand: AsyncOutputCommand {
    public static let configuration = CommandConfiguration(
        commandName: "result",
        abstract: "Print the result of a message; with several nodes, check that they agree (light client).",
        discussion: """
            One node (and no --quorum): prints the result as one JSON line (Output, Messages, Spawns, Assignments, \
            Error, GasUsed).

            Several nodes, or --quorum: asks every node for the result and for its signed result attestations, \
            checks the signatures, that each signer is trusted (--trust or --network), and that each node's result \
            matches the bytes it attested; then prints a report (which nodes agree, on which result hash) and, when \
            the quorum is met, the agreed result as the last line. Exit status 3 when the quorum is not met. The \
            quorum counts distinct trusted signers on the same result, whichever node relayed their attestations; \
            the default is a majority of the nodes given.
            """)

    @Option(name: .customLong("node"), help: ArgumentHelp("Node URL(s): comma-separated or repeated.", valueName: "url[,url...]"))
    var nodes: [String]

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The process id.", valueName: "id"))
    var process: String

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The message id (the process id gives the boot result).", valueName: "id"))
    var message: String

    @Option(name: .long, help: ArgumentHelp("Wait up to this many seconds for the result to exist.", valueName: "seconds"))
    var wait: Int?

    @Option(name: .long, help: ArgumentHelp("How many distinct trusted signers must agree.", valueName: "k"))
    var quorum: Int?

    @Option(name: .long, help: ArgumentHelp("Trusted signers: comma-separated base64url ed25519 public keys.", valueName: "keys"))
    var trust: String?

    @Option(name: .long, help: ArgumentHelp("Trust the schedulers of this network configuration file.", valueName: "file"))
    var network: String?

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for each HTTP answer.", valueName: "seconds"))
    var timeout: Int = 30

    public init() {}

    var nodeURLs: [String] { nodes.flatMap { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } } }

    public func validate() throws {
        if nodeURLs.isEmpty { throw ValidationError("give at least one --node") }
        for n in nodeURLs { try validateNodeURL(n) }
        _ = try parseID(process, "--process")
        _ = try parseID(message, "--message")
        if let wait, wait < 0 { throw ValidationError("--wait must not be negative") }
        if let quorum, quorum < 1 { throw ValidationError("--quorum must be at least 1") }
        if trust != nil && network != nil { throw ValidationError("give --trust or --network, not both") }
        if let trust { _ = try Self.trustedKeys(trust) }
        if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
    }

    static func trustedKeys(_ text: String) throws -> [[UInt8]] {
        try text.split(separator: ",").map { part in
            guard let key = Base64URL.decode(String(part)), key.count == 32 else {
                throw ValidationError("--trust takes base64url ed25519 public keys (32 bytes), got \(part)")
            }
            return key
        }
    }

    public func run() async throws { try await runStandardAsync(execute) }

    func execute(_ io: CommandOutput) async throws {
        let pid = ProcessID(raw: try parseID(process, "--process"))
        let mid = MessageID(raw: try parseID(message, "--message"))
        let urls = nodeURLs
        let perRequest = Duration.seconds(timeout)
        if urls.count == 1 && quorum == nil && trust == nil && network == nil {
            let client = NodeClient(baseURLString: urls[0], timeout: perRequest)
            let body: JSONBody
            if let wait {
                body = try await client.waitForResult(message: mid, process: pid, timeout: .seconds(wait))
            } else {
                body = try await client.result(message: mid, process: pid)
            }
            io.out(resultLine(body))
            return
        }
        var trusted: Set<NodeID>? = nil
        if let trust { trusted = LightClient.nodeIDs(publicKeys: try Self.trustedKeys(trust)) }
        if let network {
            let config: NetworkConfiguration
            do { config = try NetworkConfiguration.load(path: network) } catch {
                throw CommandFailure("\(error)", exitCode: ClientExit.badInput)
            }
            trusted = LightClient.nodeIDs(publicKeys: config.schedulers.compactMap(\.publicKeyBytes))
        }
        if let wait {
            // Let every node get there first; a node that never does is reported by the light client below.
            await withTaskGroup(of: Void.self) { group in
                for u in urls {
                    group.addTask {
                        _ = try? await NodeClient(baseURLString: u, timeout: perRequest)
                            .waitForResult(message: mid, process: pid, timeout: .seconds(wait))
                    }
                }
            }
        }
        let k = quorum ?? urls.count / 2 + 1
        let report = await LightClient.verifiedResult(nodes: urls.compactMap(URL.init(string:)), message: mid, process: pid,
                                                      quorum: k, trusted: trusted, timeout: perRequest)
        for line in report.text.split(separator: "\n") { io.out(String(line)) }
        guard report.quorumMet else {
            throw CommandFailure("quorum of \(k) not met for message \(mid.base64URL)", exitCode: ClientExit.quorumNotMet)
        }
        // The agreed result, from a node whose body was checked against the attested bytes (else any agreeing one).
        let agreeing = report.nodes.filter(\.agrees)
        if let n = agreeing.first(where: \.bodyChecked) ?? agreeing.first {
            let body = try await NodeClient(baseURLString: n.node, timeout: perRequest).result(message: mid, process: pid)
            io.out(resultLine(body))
        }
    }
}
