import ArgumentParser
import Testing
@testable import AONodeCLI

/// Runs `aonode` verbs in-process the way the binary does, capturing what they write.
enum CommandHarness {
    final class Captured: @unchecked Sendable {
        var out: [String] = [], err: [String] = []
        var io: CommandOutput { CommandOutput(out: { self.out.append($0) }, err: { self.err.append($0) }) }
    }

    /// Parses `arguments` from the root command and runs the leaf with captured output; returns its output and failure.
    static func run(_ arguments: [String]) throws -> (Captured, CommandFailure?) {
        let command = try AONodeCommand.parseAsRoot(arguments)
        let c = Captured()
        guard let leaf = command as? any OutputCommand else {
            Issue.record("unexpected command \(type(of: command))")
            return (c, nil)
        }
        do { try leaf.execute(c.io) } catch let f as CommandFailure { return (c, f) }
        return (c, nil)
    }

    /// The same for the verbs that talk to nodes (`AsyncOutputCommand`); the failure is a `CommandFailure` or the
    /// client's `NodeClientError`.
    static func runAsync(_ arguments: [String]) async throws -> (Captured, (any Error)?) {
        let command = try AONodeCommand.parseAsRoot(arguments)
        let c = Captured()
        guard let leaf = command as? any AsyncOutputCommand else {
            Issue.record("unexpected command \(type(of: command))")
            return (c, nil)
        }
        do { try await leaf.execute(c.io) } catch { return (c, error) }
        return (c, nil)
    }
}
