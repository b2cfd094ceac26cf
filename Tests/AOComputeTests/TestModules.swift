import AOCompute
import WAT

/// Small emscripten-shaped process modules, assembled from text at test time (never binaries in the repository).
///
/// `handle(msg, env)` picks its behaviour from one byte: the first byte of the `Data` value if the message is JSON
/// with a `"Data":"` field, else the first byte of the message. i = increment a counter and return it as Output;
/// t = trap (unreachable); l = infinite loop; s = unbounded recursion; e = change state then `{ok:false}`;
/// r = change state then `response.Error`; g = change state, grow the heap until refused, then trap; j = longjmp
/// through `invoke_*` and catch it; x = exit(3); w = write to stdout; d = return `emscripten_date_now`;
/// u = `metering.usegas(1000)` five times (em2 flavour only); m = return the memory size in pages.
enum TestModules {
    /// The em2-flavoured wasm32 module (`invoke_vii`, `metering.usegas`, em2 export names).
    static func wasm32(maxPages: Int = 64) throws -> [UInt8] {
        try wat2wasm(text(memory64: false, maxPages: maxPages), features: [.memory64, .referenceTypes])
    }
    /// The wasm64-flavoured module: i64 pointers, `invoke_vjj`, em4 export names, a memory64 memory.
    static func wasm64(maxPages: Int = 64) throws -> [UInt8] {
        try wat2wasm(text(memory64: true, maxPages: maxPages), features: [.memory64, .referenceTypes])
    }

    static func text(memory64: Bool, maxPages: Int) -> String {
        let P = memory64 ? "i64" : "i32"
        let ps = memory64 ? 8 : 4
        let inv = memory64 ? "invoke_vjj" : "invoke_vii"
        let date = memory64 ? "emscripten_date_now" : "_emscripten_date_now"
        let save = memory64 ? "emscripten_stack_get_current" : "stackSave"
        let restore = memory64 ? "_emscripten_stack_restore" : "stackRestore"
        let alloc = memory64 ? "_emscripten_stack_alloc" : "stackAlloc"
        let usegasImport = memory64 ? "" : #"(import "metering" "usegas" (func $usegas (param i32)))"#
        let usegasBody = memory64 ? "" : "(call $usegas (i32.const 1000)) (call $usegas (i32.const 1000)) (call $usegas (i32.const 1000)) (call $usegas (i32.const 1000)) (call $usegas (i32.const 1000))"
        func c(_ v: Int) -> String { "(\(P).const \(v))" }
        return #"""
        (module
          (type $vii (func (param \#(P) \#(P))))
          (import "env" "\#(inv)" (func $invoke (param \#(P) \#(P) \#(P))))
          (import "env" "_emscripten_throw_longjmp" (func $throw_lj))
          (import "env" "emscripten_resize_heap" (func $resize (param \#(P)) (result i32)))
          (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 \#(P) \#(P) \#(P)) (result i32)))
          (import "env" "\#(date)" (func $date (result f64)))
          (import "env" "exit" (func $exit (param i32)))
          \#(usegasImport)
          (memory (export "memory") \#(memory64 ? "i64 " : "")2 \#(maxPages))
          (table (export "__indirect_function_table") 2 funcref)
          (elem (i32.const 1) $thrower)
          (global $sp (mut \#(P)) \#(c(65536)))
          (global $threw (mut \#(P)) \#(c(0)))
          (data \#(c(80000)) "{\"ok\":true,\"response\":{\"Output\":\00")
          (data \#(c(80050)) "}}\00")
          (data \#(c(80100)) "{\"ok\":false,\"response\":\"boom\"}\00")
          (data \#(c(80200)) "{\"ok\":true,\"response\":{\"Output\":\"caught\"}}\00")
          (data \#(c(80300)) "{\"ok\":true,\"response\":{\"Error\":\"bad\"}}\00")
          (data \#(c(80400)) "hello\n")
          (data \#(c(80700)) "{\"ok\":true,\"response\":{\"Output\":\"written\"}}\00")
          (data \#(c(80800)) "\"Data\":\"\00")
          (data \#(c(80900)) "{\"ok\":true,\"response\":{\"Output\":\"unknown\"}}\00")
          (func $thrower (type $vii) call $throw_lj)
          (func (export "setThrew") (param $t \#(P)) (param $v i32) local.get $t global.set $threw)
          (func (export "\#(save)") (result \#(P)) global.get $sp)
          (func (export "\#(restore)") (param \#(P)) local.get 0 global.set $sp)
          (func (export "\#(alloc)") (param $n \#(P)) (result \#(P))
            global.get $sp local.get $n \#(P).sub \#(c(-16)) \#(P).and global.set $sp global.get $sp)
          (func $strcpy (param $d \#(P)) (param $s \#(P)) (result \#(P))
            (block $done (loop $l
              (br_if $done (i32.eqz (i32.load8_u (local.get $s))))
              (i32.store8 (local.get $d) (i32.load8_u (local.get $s)))
              (local.set $d (\#(P).add (local.get $d) \#(c(1))))
              (local.set $s (\#(P).add (local.get $s) \#(c(1))))
              (br $l)))
            local.get $d)
          (func $itoa (param $d \#(P)) (param $v i32) (result \#(P))
            (local $t \#(P))
            (local.set $t \#(c(90016)))
            (i32.store8 \#(c(90016)) (i32.const 0))
            (loop $l
              (local.set $t (\#(P).sub (local.get $t) \#(c(1))))
              (i32.store8 (local.get $t) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
              (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
              (br_if $l (local.get $v)))
            (call $strcpy (local.get $d) (local.get $t)))
          (func $number (param $v i32) (result \#(P))
            (local $d \#(P))
            (local.set $d (call $strcpy \#(c(70100)) \#(c(80000))))
            (local.set $d (call $itoa (local.get $d) (local.get $v)))
            (local.set $d (call $strcpy (local.get $d) \#(c(80050))))
            (i32.store8 (local.get $d) (i32.const 0))
            \#(c(70100)))
          (func $find (param $m \#(P)) (result \#(P))
            (local $i \#(P)) (local $k \#(P))
            (local.set $i (local.get $m))
            (block $nf (loop $scan
              (br_if $nf (i32.eqz (i32.load8_u (local.get $i))))
              (local.set $k \#(c(0)))
              (block $mismatch (loop $cmp
                (if (i32.eqz (i32.load8_u (\#(P).add \#(c(80800)) (local.get $k))))
                  (then (return (\#(P).add (local.get $i) (local.get $k)))))
                (br_if $mismatch (i32.ne (i32.load8_u (\#(P).add (local.get $i) (local.get $k)))
                                         (i32.load8_u (\#(P).add \#(c(80800)) (local.get $k)))))
                (local.set $k (\#(P).add (local.get $k) \#(c(1))))
                (br $cmp)))
              (local.set $i (\#(P).add (local.get $i) \#(c(1))))
              (br $scan)))
            (local.get $m))
          (func $recurse (param $x i32) (result i32) (call $recurse (i32.add (local.get $x) (i32.const 1))))
          (func $bump (param $n i32) (i32.store \#(c(70000)) (i32.add (i32.load \#(c(70000))) (local.get $n))))
          (func (export "handle") (param $m \#(P)) (param $e \#(P)) (result \#(P))
            (local $c i32)
            (local.set $c (i32.load8_u (call $find (local.get $m))))
            (if (i32.eq (local.get $c) (i32.const 105)) (then (call $bump (i32.const 1)) (return (call $number (i32.load \#(c(70000)))))))
            (if (i32.eq (local.get $c) (i32.const 116)) (then (call $bump (i32.const 100)) unreachable))
            (if (i32.eq (local.get $c) (i32.const 108)) (then (call $bump (i32.const 100)) (loop $inf (br $inf))))
            (if (i32.eq (local.get $c) (i32.const 115)) (then (call $bump (i32.const 100)) (drop (call $recurse (i32.const 0)))))
            (if (i32.eq (local.get $c) (i32.const 101)) (then (call $bump (i32.const 100)) (return \#(c(80100)))))
            (if (i32.eq (local.get $c) (i32.const 114)) (then (call $bump (i32.const 100)) (return \#(c(80300)))))
            (if (i32.eq (local.get $c) (i32.const 103)) (then
              (call $bump (i32.const 100))
              (loop $g (br_if $g (call $resize (\#(P).add (\#(P).mul (memory.size) \#(c(65536))) \#(c(1048576))))))
              unreachable))
            (if (i32.eq (local.get $c) (i32.const 106)) (then
              (global.set $threw \#(c(0)))
              (call $invoke \#(c(1)) \#(c(0)) \#(c(0)))
              (if (\#(P).ne (global.get $threw) \#(c(0))) (then (return \#(c(80200)))))
              (return \#(c(80100)))))
            (if (i32.eq (local.get $c) (i32.const 120)) (then (call $exit (i32.const 3))))
            (if (i32.eq (local.get $c) (i32.const 119)) (then
              (\#(P).store \#(c(80500)) \#(c(80400)))
              (\#(P).store \#(c(80500 + ps)) \#(c(6)))
              (drop (call $fd_write (i32.const 1) \#(c(80500)) \#(c(1)) \#(c(80600))))
              (return \#(c(80700)))))
            (if (i32.eq (local.get $c) (i32.const 100)) (then (return (call $number (i32.trunc_f64_s (call $date))))))
            (if (i32.eq (local.get $c) (i32.const 117)) (then \#(usegasBody) (return (call $number (i32.const 0)))))
            (if (i32.eq (local.get $c) (i32.const 109)) (then (return (call $number \#(memory64 ? "(i32.wrap_i64 (memory.size))" : "(memory.size)")))))
            \#(c(80900)))
        )
        """#
    }
}
