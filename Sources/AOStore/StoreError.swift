/// An operating error of the store (CONVENTIONS.md C10, kind 2): bad input, I/O, a full map, a corrupt file.
///
/// Programmer errors (a broken invariant inside the store) are preconditions instead; "not found" is never an error
/// (lookups return nil). Each kind is a static member with a doc line; `description` carries the detail a user needs.
public struct StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    enum Kind: Equatable, Sendable {
        case malformedItem, idMismatch, unsupportedSignatureType, invalidQuery, invalidCursor, limitExceeded
        case conflict, mapFull, diskFull, permissionDenied, corrupt, formatTooNew, migrationRequired
        case alreadyOpen, closed, io
    }
    let kind: Kind
    /// Human-readable detail: what was wrong and where (path, id, limit).
    public let detail: String

    init(_ kind: Kind, _ detail: String) { self.kind = kind; self.detail = detail }

    /// The bytes are not a well-formed ANS-104 data item (or bundle), or break an ANS-104 limit.
    public static func malformedItem(_ d: String) -> StoreError { .init(.malformedItem, d) }
    /// The id computed from the item's bytes differs from the id the caller claimed.
    public static func idMismatch(_ d: String) -> StoreError { .init(.idMismatch, d) }
    /// The item's signature type cannot be verified by this build.
    public static func unsupportedSignatureType(_ d: String) -> StoreError { .init(.unsupportedSignatureType, d) }
    /// A query breaks a rule (e.g. `first` out of range, a tag filter without values).
    public static func invalidQuery(_ d: String) -> StoreError { .init(.invalidQuery, d) }
    /// A pagination cursor was not produced by this store.
    public static func invalidCursor(_ d: String) -> StoreError { .init(.invalidCursor, d) }
    /// A key, value, batch or namespace exceeds a named limit in `StoreLimits`.
    public static func limitExceeded(_ d: String) -> StoreError { .init(.limitExceeded, d) }
    /// A write would change something the store never changes: a process-log slot already holding other ids.
    public static func conflict(_ d: String) -> StoreError { .init(.conflict, d) }
    /// The LMDB map is full and may not grow further (growth disabled or `mapBytesMax` reached). Nothing was written.
    public static func mapFull(_ d: String) -> StoreError { .init(.mapFull, d) }
    /// The file system is out of space (ENOSPC). Nothing from the failed batch was written.
    public static func diskFull(_ d: String) -> StoreError { .init(.diskFull, d) }
    /// The data directory or its files cannot be created or written (read-only directory or file system).
    public static func permissionDenied(_ d: String) -> StoreError { .init(.permissionDenied, d) }
    /// The data file is not a valid store: garbage, truncated, or failing LMDB's checks. Restore from a backup.
    public static func corrupt(_ d: String) -> StoreError { .init(.corrupt, d) }
    /// The store was written by a newer aonode (a higher format version); this build refuses to touch it.
    public static func formatTooNew(_ d: String) -> StoreError { .init(.formatTooNew, d) }
    /// The store has an older format version; open it with migration allowed (after a backup) to upgrade it.
    public static func migrationRequired(_ d: String) -> StoreError { .init(.migrationRequired, d) }
    /// The environment is already open in this process (lmdb.h: never open the same environment twice).
    public static func alreadyOpen(_ d: String) -> StoreError { .init(.alreadyOpen, d) }
    /// The store was closed; no further reads or writes.
    public static func closed(_ d: String) -> StoreError { .init(.closed, d) }
    /// Any other I/O or LMDB failure, with the library's message.
    public static func io(_ d: String) -> StoreError { .init(.io, d) }

    /// True when both errors are of the same kind, whatever their detail (for tests and retry decisions).
    public func isSameKind(as other: StoreError) -> Bool { kind == other.kind }
    public static func == (l: StoreError, r: StoreError) -> Bool { l.kind == r.kind }

    public var description: String { "\(kind): \(detail)" }
}
