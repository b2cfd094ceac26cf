/// AONode: the shell that drives the pure cores and executes their directives.
///
/// `Node` is the entry point: `Node(configuration:logger:)`, `start()`, `waitForShutdown()` / `shutdown()`.
