import AOCore
import CFuzzerDriver
#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer entry: parse arbitrary bytes as an ANS-104 data item and as a bundle. Any input may be rejected with a
/// typed error; none may crash. An item that parses must re-serialize to the same bytes and re-parse equal, and its
/// deep hash and verification must run without trapping.
func fuzzDataItem(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let item = try? DataItem(parsing: bytes) {
        let out = item.serialized()
        precondition(out == bytes, "serialize(parse(x)) != x")
        let again = try? DataItem(parsing: out)
        precondition(again == item, "parse(serialize(item)) != item")
        _ = item.signingMessage()
        _ = item.isSignatureValid
        _ = item.ownerAddress
    }
    if let bundle = try? ANS104Bundle(parsing: bytes) {
        precondition(bundle.serialized() == bytes, "serialize(parse(bundle)) != bundle")
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzDataItem(data, size) })
