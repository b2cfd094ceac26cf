import WasmKit

/// The allow-list of emscripten host imports and the legacy glue's minified names.
///
/// A module may import only these (by canonical name, see `canonicalName`); anything else is refused at load time
/// with `ComputeError.unknownImport`. Behaviour of each import follows the loader's glue (ao-loader-abi.md section 2)
/// with the determinism fixes the document recommends (UTC, fixed environment, no `system()`, a seeded random device).
enum HostImports {
    /// legacy `a.<letter>` → canonical name (from the glue's `asmLibraryArg`).
    static let legacyLetters: [String: String] = [
        "a": "_emscripten_date_now", "b": "setTempRet0", "c": "fd_close", "d": "__syscall_fcntl64",
        "e": "__syscall_unlinkat", "f": "fd_write", "g": "__syscall_openat", "h": "getTempRet0", "i": "_mktime_js",
        "j": "_tzset_js", "k": "emscripten_memcpy_big", "l": "exit", "m": "system", "n": "strftime", "o": "fd_seek",
        "p": "_emscripten_throw_longjmp", "q": "emscripten_resize_heap", "r": "__syscall_lstat64",
        "s": "__syscall_renameat", "t": "__syscall_rmdir", "u": "environ_get", "v": "environ_sizes_get",
        "w": "__syscall_dup3", "x": "invoke_vii", "y": "fd_read", "z": "__syscall_ioctl",
        "A": "_emscripten_get_now_is_monotonic", "B": "_gmtime_js", "C": "_localtime_js", "D": "abort",
    ]

    /// Minimum parameter count per canonical name (the host reads that many); the result arity is checked too.
    static let shapes: [String: (params: Int, results: Int)] = [
        "abort": (0, 0), "_abort_js": (0, 0), "__assert_fail": (4, 0), "_dlopen_js": (1, 1), "_dlsym_js": (2, 1),
        "_dlinit": (1, 0),
        "getTempRet0": (0, 1), "setTempRet0": (1, 0),
        "strftime": (4, 1), "system": (1, 1), "_emscripten_system": (1, 1), "exit": (1, 0),
        "emscripten_memcpy_big": (3, 0), "_emscripten_memcpy_js": (3, 0),
        "_tzset_js": (3, 0), "_mktime_js": (1, 1), "_localtime_js": (2, 0), "_gmtime_js": (2, 0),
        "_emscripten_date_now": (0, 1), "emscripten_date_now": (0, 1), "_emscripten_get_now_is_monotonic": (0, 1),
        "emscripten_get_now": (0, 1),
        "__syscall_openat": (4, 1), "__syscall_fcntl64": (3, 1), "__syscall_ioctl": (3, 1),
        "fd_write": (4, 1), "fd_read": (4, 1), "fd_close": (1, 1), "fd_seek": (4, 1), "fd_sync": (1, 1),
        "fd_fdstat_get": (2, 1),
        "__syscall_dup3": (3, 1), "environ_sizes_get": (2, 1), "environ_get": (2, 1),
        "__syscall_unlinkat": (3, 1), "__syscall_rmdir": (1, 1), "__syscall_renameat": (4, 1),
        "__syscall_lstat64": (2, 1), "__syscall_stat64": (2, 1), "__syscall_fstat64": (2, 1),
        "__syscall_newfstatat": (4, 1), "__syscall_faccessat": (4, 1), "__syscall_fchmod": (2, 1),
        "__syscall_chmod": (2, 1), "__syscall_fchown32": (3, 1), "__syscall_getcwd": (2, 1),
        "__syscall_mkdirat": (3, 1), "__syscall_readlinkat": (4, 1), "__syscall_utimensat": (4, 1),
        "__syscall_ftruncate64": (2, 1), "_mmap_js": (6, 1), "_munmap_js": (6, 1),
        "emscripten_get_heap_max": (0, 1), "emscripten_resize_heap": (1, 1), "_emscripten_throw_longjmp": (0, 0),
        "usegas": (1, 0), "metering_gasUsed": (0, 1),
        "__asyncjs__weavedrive_open": (2, 1), "__asyncjs__weavedrive_read": (3, 1), "__asyncjs__weavedrive_close": (1, 1),
    ]

    /// The canonical name of an import, or nil if it is not on the allow-list for `format`.
    static func canonicalName(module: String, name: String, format: ModuleFormat) -> String? {
        if format == .legacy {
            if module == "a" { return legacyLetters[name] }
            if module == "metering", name == "usegas" { return "usegas" }
            return nil
        }
        switch module {
        case "env", "wasi_snapshot_preview1":
            if name.hasPrefix("invoke_") { return name }
            return shapes[name] != nil && name != "usegas" ? name : nil
        case "metering":
            return name == "usegas" ? "usegas" : nil
        default:
            return nil
        }
    }

    /// Whether the module's declared signature is one the host can serve for `canonical`.
    static func accepts(canonical: String, type: FunctionType, format: ModuleFormat) -> Bool {
        if canonical.hasPrefix("invoke_") {
            // invoke_<ret><params>: the table index, then the callee's arguments; at most one result.
            guard let first = type.parameters.first, first == .i32 || first == .i64 else { return false }
            return type.results.count <= 1
        }
        guard let shape = shapes[canonical] else { return false }
        // emscripten before 3.1.x declared `emscripten_memcpy_big` as returning `dest` (Debian's 3.1.6 still does).
        let resultsOK = type.results.count == shape.results || (canonical == "emscripten_memcpy_big" && type.results.count == 1)
        return type.parameters.count >= shape.params && resultsOK
            && type.parameters.allSatisfy { $0 == .i32 || $0 == .i64 || $0 == .f64 || $0 == .f32 }
    }
}
