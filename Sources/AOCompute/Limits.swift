/// Named limits of the compute engine. Each says why it has its value.
///
/// Determinism: every limit here that can change a result (`interpreterStackBytes`, the defaults for
/// Compute-Limit and Memory-Limit) is part of the protocol, not a node setting. Changing one splits nodes.
public enum ComputeLimits {
    /// WasmKit's interpreter stack for every call into a guest. Fixed because running out of it is a result
    /// ("call stack exhausted"); 4 MiB is 8x WasmKit's default and well above what Lua (C recursion bounded by
    /// LUAI_MAXCCALLS = 200) needs.
    public static let interpreterStackBytes = 4 << 20
    /// Nesting of `invoke_*` trampolines (each one a fresh guest call on the native stack). Lua nests at most about
    /// 200 deep; a hostile module recursing through `invoke_*` would otherwise exhaust the native stack.
    public static let invokeNestingMax = 512
    /// WasmKit fuel per message when the process sets no Compute-Limit: AO's own default gas limit (9e12), so that
    /// an unbounded loop still ends.
    public static let computeLimitDefault: UInt64 = 9_000_000_000_000
    /// Memory-Limit when neither the module nor the process sets one: the em2/legacy glue's hard-coded heap maximum
    /// would be 500 MiB; wasm32 cannot exceed 4 GiB; we take 4 GiB - 64 KiB as the glue does for em3/em4.
    public static let memoryLimitDefaultBytes: UInt64 = 4_294_901_760
    /// Upper bound for any Memory-Limit we accept (16 GiB, the wasm64 glue's heap maximum).
    public static let memoryLimitMaxBytes: UInt64 = 17_179_869_184
    /// Largest module binary we parse (AO modules are < 10 MB; the biggest loader test module is 2.2 MB).
    public static let moduleBytesMax = 64 << 20
    /// Largest message + env JSON we pass to `handle` (the em4 shadow stack is 64 MiB; em2's 5 MiB, with the x4).
    public static let handleInputBytesMax = 48 << 20
    /// Largest string we read back from `handle`.
    public static let handleOutputBytesMax = 256 << 20
    /// Bytes a process may keep in its in-memory file system (files written under /tmp and the like).
    public static let fileSystemBytesMax = 16 << 20
    /// Open file descriptors in the in-memory file system.
    public static let openFilesMax = 64
    /// stdout/stderr bytes kept per message (the output is logged, never part of a result).
    public static let consoleBytesMax = 64 << 10
}
