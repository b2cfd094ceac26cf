/// ANS-104 limits (https://github.com/ArweaveTeam/arweave-standards/blob/master/ans/ANS-104.md, "Tag format").
/// aonode accepts every item inside these limits and refuses the rest with a typed `DataItemError`.
public enum ANS104Limits {
    /// At most 128 tags per data item (ANS-104).
    public static let tagCountMax = 128
    /// A tag name is 1 to 1024 bytes: ANS-104 forbids empty names.
    public static let tagNameBytesMax = 1024
    /// A tag value is 0 to 3072 bytes: empty values are valid (ANS-104).
    public static let tagValueBytesMax = 3072
    /// aonode refuses to *create* an item whose Avro tag block exceeds 4096 bytes, because arbundles-based tooling
    /// (bundlers, aoconnect's MU) rejects those. Parsing accepts larger blocks within the per-tag limits.
    public static let tagBlockBytesCreateMax = 4096
    /// Target and anchor are exactly 32 bytes when present.
    public static let targetBytes = 32
    public static let anchorBytes = 32
    /// An ANS-104 bundle holds at most this many items when aonode parses it: the header alone is 64 bytes per
    /// item, so this bounds the header allocation for a hostile count (2^20 items = 64 MiB of header).
    public static let bundleItemCountMax = 1 << 20
}
