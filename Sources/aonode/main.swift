import AONodeCLI
import ArgumentParser

// `await AONodeCommand.main()` at top level resolved to ParsableCommand's synchronous main on Linux, which refuses an
// asynchronous root command; inside an async function the async overloads are chosen.
func runAONode() async {
    do {
        var command = try await AONodeCommand.asyncParseAsRoot()
        if var asyncCommand = command as? AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    } catch {
        AONodeCommand.exit(withError: error)
    }
}

await runAONode()
