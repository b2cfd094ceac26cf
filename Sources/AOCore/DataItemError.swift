/// Why a data item (or a tag list, key or bundle handed to `DataItem`) was refused. One static member per malformed
/// case, so callers and tests can match exactly (`error == .truncatedOwner`); `description` is a human sentence.
/// Equality compares the case only, not the detail text.
public struct DataItemError: Error, Hashable, Sendable, CustomStringConvertible {
    enum Kind: String, Sendable {
        case truncatedSignatureType, truncatedSignature, truncatedOwner, truncatedTargetFlag, truncatedTarget
        case truncatedAnchorFlag, truncatedAnchor, truncatedTagCount, truncatedTagByteLength, truncatedTags
        case unknownSignatureType, badTargetFlag, badAnchorFlag, badAnchorSize, badOwnerSize
        case badSignatureSize, tagCountMismatch, tagByteLengthMismatch, malformedTagBlock, tooManyTags
        case emptyTagName, tagNameTooLong, tagValueTooLong, tagBlockTooLarge, invalidSignature
        case unsupportedSignatureType, signingFailed, badKey
    }

    let kind: Kind
    /// Extra context (e.g. the unknown type value); not part of equality.
    public let detail: String

    init(_ kind: Kind, _ detail: String = "") { self.kind = kind; self.detail = detail }

    public static func == (l: DataItemError, r: DataItemError) -> Bool { l.kind == r.kind }
    public func hash(into h: inout Hasher) { h.combine(kind) }

    /// A stable machine-readable code, e.g. `truncatedOwner`.
    public var code: String { kind.rawValue }

    /// The input ends inside the 2-byte signature type.
    public static let truncatedSignatureType = DataItemError(.truncatedSignatureType)
    /// The input ends inside the signature.
    public static let truncatedSignature = DataItemError(.truncatedSignature)
    /// The input ends inside the owner.
    public static let truncatedOwner = DataItemError(.truncatedOwner)
    /// The input ends before the target presence byte.
    public static let truncatedTargetFlag = DataItemError(.truncatedTargetFlag)
    /// The target presence byte is 1 but fewer than 32 bytes follow.
    public static let truncatedTarget = DataItemError(.truncatedTarget)
    /// The input ends before the anchor presence byte.
    public static let truncatedAnchorFlag = DataItemError(.truncatedAnchorFlag)
    /// The anchor presence byte is 1 but fewer than 32 bytes follow.
    public static let truncatedAnchor = DataItemError(.truncatedAnchor)
    /// The input ends inside the 8-byte tag count.
    public static let truncatedTagCount = DataItemError(.truncatedTagCount)
    /// The input ends inside the 8-byte tag block length.
    public static let truncatedTagByteLength = DataItemError(.truncatedTagByteLength)
    /// The tag block length points past the end of the input.
    public static let truncatedTags = DataItemError(.truncatedTags)
    /// The signature type is none of the ANS-104 types (1 to 7).
    public static let unknownSignatureType = DataItemError(.unknownSignatureType)
    /// The target presence byte is neither 0 nor 1 (arbundles reads other values as "absent"; the byte is unsigned,
    /// so accepting it would make the item malleable).
    public static let badTargetFlag = DataItemError(.badTargetFlag)
    /// The anchor presence byte is neither 0 nor 1 (see `badTargetFlag`).
    public static let badAnchorFlag = DataItemError(.badAnchorFlag)
    /// An anchor handed to `create` is not 32 bytes.
    public static let badAnchorSize = DataItemError(.badAnchorSize)
    /// A signer's owner has the wrong length for its signature type.
    public static let badOwnerSize = DataItemError(.badOwnerSize)
    /// A signer returned a signature of the wrong length for its type.
    public static let badSignatureSize = DataItemError(.badSignatureSize)
    /// The 8-byte tag count disagrees with the number of tags in the Avro block (the count is not signed, so
    /// accepting a disagreement would make the item malleable).
    public static let tagCountMismatch = DataItemError(.tagCountMismatch)
    /// The Avro block ends before or after the declared tag byte length (a tag or the terminator runs past it, or
    /// bytes remain after the terminator).
    public static let tagByteLengthMismatch = DataItemError(.tagByteLengthMismatch)
    /// The Avro block is not a valid array of `{name: bytes, value: bytes}` (over-long varint, negative length).
    public static let malformedTagBlock = DataItemError(.malformedTagBlock)
    /// More than 128 tags.
    public static let tooManyTags = DataItemError(.tooManyTags)
    /// A tag name is empty (an empty *value* is valid).
    public static let emptyTagName = DataItemError(.emptyTagName)
    /// A tag name is longer than 1024 bytes.
    public static let tagNameTooLong = DataItemError(.tagNameTooLong)
    /// A tag value is longer than 3072 bytes.
    public static let tagValueTooLong = DataItemError(.tagValueTooLong)
    /// `create` refuses a tag block over 4096 bytes, which arbundles-based tooling rejects.
    public static let tagBlockTooLarge = DataItemError(.tagBlockTooLarge)
    /// The signature does not verify over the item's deep hash with its owner.
    public static let invalidSignature = DataItemError(.invalidSignature)
    /// aonode cannot verify or sign this signature type (Ethereum and the other non-Arweave, non-ed25519 types).
    public static let unsupportedSignatureType = DataItemError(.unsupportedSignatureType)
    /// The signer failed (e.g. OpenSSL refused the key).
    public static let signingFailed = DataItemError(.signingFailed)
    /// A key (JWK or RSA parameters) is malformed or not of the required kind or size.
    public static let badKey = DataItemError(.badKey)

    func with(_ detail: String) -> DataItemError { DataItemError(kind, detail) }

    public var description: String {
        let base: String
        switch kind {
        case .truncatedSignatureType: base = "truncated: the item ends inside the signature type"
        case .truncatedSignature: base = "truncated: the item ends inside the signature"
        case .truncatedOwner: base = "truncated: the item ends inside the owner"
        case .truncatedTargetFlag: base = "truncated: the item ends before the target presence byte"
        case .truncatedTarget: base = "truncated: the item ends inside the target"
        case .truncatedAnchorFlag: base = "truncated: the item ends before the anchor presence byte"
        case .truncatedAnchor: base = "truncated: the item ends inside the anchor"
        case .truncatedTagCount: base = "truncated: the item ends inside the tag count"
        case .truncatedTagByteLength: base = "truncated: the item ends inside the tag byte length"
        case .truncatedTags: base = "truncated: the tag block runs past the end of the item"
        case .unknownSignatureType: base = "unknown signature type"
        case .badTargetFlag: base = "the target presence byte is neither 0 nor 1"
        case .badAnchorFlag: base = "the anchor presence byte is neither 0 nor 1"
        case .badAnchorSize: base = "an anchor must be exactly 32 bytes"
        case .badOwnerSize: base = "the owner has the wrong length for its signature type"
        case .badSignatureSize: base = "the signature has the wrong length for its signature type"
        case .tagCountMismatch: base = "the tag count disagrees with the Avro tag block"
        case .tagByteLengthMismatch: base = "the tag byte length disagrees with the Avro tag block"
        case .malformedTagBlock: base = "the Avro tag block is malformed"
        case .tooManyTags: base = "more than \(ANS104Limits.tagCountMax) tags"
        case .emptyTagName: base = "a tag name is empty"
        case .tagNameTooLong: base = "a tag name is longer than \(ANS104Limits.tagNameBytesMax) bytes"
        case .tagValueTooLong: base = "a tag value is longer than \(ANS104Limits.tagValueBytesMax) bytes"
        case .tagBlockTooLarge: base = "the tag block is larger than \(ANS104Limits.tagBlockBytesCreateMax) bytes"
        case .invalidSignature: base = "the signature does not verify"
        case .unsupportedSignatureType: base = "unsupported signature type"
        case .signingFailed: base = "signing failed"
        case .badKey: base = "bad key"
        }
        return detail.isEmpty ? base : "\(base) (\(detail))"
    }
}
