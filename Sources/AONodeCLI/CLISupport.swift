import ArgumentParser
import Foundation

/// Where a command writes: standard output and error in `run()`, strings in tests.
public struct CommandOutput {
    public var out: (String) -> Void
    public var err: (String) -> Void

    public static let standard = CommandOutput(
        out: { print($0) },
        err: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })

    public init(out: @escaping (String) -> Void, err: @escaping (String) -> Void) { self.out = out; self.err = err }
}

/// A command failure with a human sentence and an exit status (printed by `run()` on standard error).
public struct CommandFailure: Error, CustomStringConvertible {
    public let message: String
    public let exitCode: Int32
    public init(_ message: String, exitCode: Int32 = 1) { self.message = message; self.exitCode = exitCode }
    public var description: String { message }
}

/// Runs `body` with the standard streams, turning a `CommandFailure` into its message on stderr and its exit code.
func runStandard(_ body: (CommandOutput) throws -> Void) throws {
    do { try body(.standard) } catch let f as CommandFailure {
        CommandOutput.standard.err("error: \(f.message)")
        throw ExitCode(f.exitCode)
    }
}

func readFile(_ path: String, what: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CommandFailure("cannot read \(what) \(path)", exitCode: 2)
    }
    return [UInt8](data)
}

/// Writes a file that must not exist yet (so a typo never overwrites a key or an item).
func writeNewFile(_ path: String, _ bytes: [UInt8]) throws {
    guard !FileManager.default.fileExists(atPath: path) else {
        throw CommandFailure("\(path) already exists; refusing to overwrite it", exitCode: 2)
    }
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        throw CommandFailure("cannot write \(path)", exitCode: 2)
    }
}

/// A leaf command whose work writes through a `CommandOutput`, so `run()` prints and tests capture the same calls.
protocol OutputCommand: ParsableCommand {
    func execute(_ io: CommandOutput) throws
}

extension Keygen: OutputCommand {}
extension AddressCommand: OutputCommand {}
extension ItemCreate: OutputCommand {}
extension ItemInspect: OutputCommand {}
extension StoreImport: OutputCommand {}
extension StoreGet: OutputCommand {}
extension StoreExport: OutputCommand {}
extension StoreStats: OutputCommand {}
extension StoreBackup: OutputCommand {}
