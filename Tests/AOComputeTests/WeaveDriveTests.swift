import Testing
import WAT
@testable import AOCompute

/// WeaveDrive reads (em4's `__asyncjs__weavedrive_*`, answered synchronously from a `WeaveDrive`).
@Suite struct WeaveDriveTests {
    /// handle: fd = weavedrive_open("/data/TX", "r"); if 0 → Output "none"; else read 5 bytes into the Output string.
    static let wat = #"""
    (module
      (import "env" "__asyncjs__weavedrive_open" (func $open (param i32 i32) (result i32)))
      (import "env" "__asyncjs__weavedrive_read" (func $read (param i32 i32 i32) (result i32)))
      (import "env" "__asyncjs__weavedrive_close" (func $close (param i32) (result i32)))
      (memory (export "memory") 2)
      (global $sp (mut i32) (i32.const 65536))
      (data (i32.const 1000) "/data/TX\00")
      (data (i32.const 1100) "r\00")
      (data (i32.const 2000) "{\"ok\":true,\"response\":{\"Output\":\"_____\"}}\00")
      (data (i32.const 3000) "{\"ok\":true,\"response\":{\"Output\":\"none\"}}\00")
      (func (export "emscripten_stack_get_current") (result i32) global.get $sp)
      (func (export "_emscripten_stack_restore") (param i32) local.get 0 global.set $sp)
      (func (export "_emscripten_stack_alloc") (param i32) (result i32)
        global.get $sp local.get 0 i32.sub i32.const -16 i32.and global.set $sp global.get $sp)
      (func (export "handle") (param i32 i32) (result i32)
        (local $fd i32)
        (local.set $fd (call $open (i32.const 1000) (i32.const 1100)))
        (if (i32.eqz (local.get $fd)) (then (return (i32.const 3000))))
        (drop (call $read (local.get $fd) (i32.const 2033) (i32.const 5)))
        (drop (call $close (local.get $fd)))
        (i32.const 2000)))
    """#

    @Test func readsFromTheDriveOrGetsNull() throws {
        let module = try ProcessModule(bytes: try wat2wasm(Self.wat), format: .emscripten4)
        let without = try ProcessRunner(module: module)
        #expect(without.evaluate(message: "{}", env: "{}").output == .string("none"))
        let drive = MemoryWeaveDrive(files: ["/data/TX": Array("hello world".utf8)])
        let with = try ProcessRunner(module: module, drive: drive)
        #expect(with.evaluate(message: "{}", env: "{}").output == .string("hello"))
    }
}
