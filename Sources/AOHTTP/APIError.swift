/// An error answer of the HTTP API: `{"error":{"code":"<stable code>","message":"<human sentence>"}}` with a status.
///
/// Why not AO's own `{"error":"<string>"}`: AO's servers and clients never read the error body as data (the MU,
/// CU and aoconnect treat any non-2xx answer as a failure and show the body), so a structured error costs no
/// compatibility and gives tooling a code to switch on. Where AO words an error, `message` keeps AO's words
/// (e.g. "Message or Process not found", "Latest message not available").
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    /// Stable, lower_snake_case; documented in docs/HTTP-API.md. Never changes meaning once shipped.
    public let code: String
    public let message: String
    /// Seconds, for 429 and 503 answers.
    public let retryAfterSeconds: Int?

    public init(status: Int, code: String, message: String, retryAfterSeconds: Int? = nil) {
        self.status = status; self.code = code; self.message = message; self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(status) \(code): \(message)" }

    public var json: JSONValue { .object([("error", .object([("code", .string(code)), ("message", .string(message))]))]) }

    // MARK: request errors (400 family)

    static func invalidID(_ parameter: String, _ text: String) -> APIError {
        APIError(status: 400, code: "invalid_id",
                 message: "\(parameter) must be a 43-character base64url id, got \(quoteShort(text)).")
    }
    static func invalidQuery(_ message: String) -> APIError { APIError(status: 400, code: "invalid_query", message: message) }
    static func missingParameter(_ name: String) -> APIError {
        APIError(status: 400, code: "missing_parameter", message: "The query parameter \(name) is required.")
    }
    static func invalidBody(_ message: String) -> APIError { APIError(status: 400, code: "invalid_body", message: message) }
    static func bodyTooLarge(limit: Int) -> APIError {
        APIError(status: 413, code: "body_too_large", message: "The request body is larger than \(limit) bytes.")
    }
    static func queryTooLarge(_ message: String) -> APIError { APIError(status: 414, code: "query_too_large", message: message) }
    static let requestTimeout = APIError(status: 408, code: "request_timeout",
                                         message: "The request body did not arrive in time.")
    static func routeNotFound(_ path: String) -> APIError {
        APIError(status: 404, code: "route_not_found", message: "No route matches \(quoteShort(path)).")
    }
    static func methodNotAllowed(_ method: String, allowed: [String]) -> APIError {
        APIError(status: 405, code: "method_not_allowed",
                 message: "\(method) is not allowed here; use \(allowed.joined(separator: " or ")).")
    }
    static func rateLimited(retryAfterSeconds: Int) -> APIError {
        APIError(status: 429, code: "rate_limited",
                 message: "Too many requests from this address; retry in \(retryAfterSeconds) s.",
                 retryAfterSeconds: retryAfterSeconds)
    }
    static let timedOut = APIError(status: 503, code: "timed_out",
                                   message: "The node did not answer in time; retry later.", retryAfterSeconds: 1)
    static let internalError = APIError(status: 500, code: "internal_error", message: "The node failed to answer.")

    /// Maps a node's typed rejection.
    static func from(_ error: NodeQueryError) -> APIError {
        switch error.kind {
        case .invalidItem: return APIError(status: 400, code: "invalid_item", message: error.message)
        case .badSignature: return APIError(status: 400, code: "bad_signature", message: error.message)
        case .unsupportedSignatureType:
            return APIError(status: 400, code: "unsupported_signature_type", message: error.message)
        case .invalidTags: return APIError(status: 400, code: "invalid_tags", message: error.message)
        case .itemTooLarge: return APIError(status: 413, code: "item_too_large", message: error.message)
        case .duplicate: return APIError(status: 409, code: "duplicate", message: error.message)
        case .unknownProcess: return APIError(status: 404, code: "unknown_process", message: error.message)
        case .notFound: return APIError(status: 404, code: "not_found", message: error.message)
        case .invalidArgument: return APIError(status: 400, code: "invalid_argument", message: error.message)
        case .unprocessable: return APIError(status: 422, code: "unprocessable", message: error.message)
        case .unavailable: return APIError(status: 503, code: "unavailable", message: error.message, retryAfterSeconds: 1)
        }
    }

    /// Client text echoed in messages is cut short and stripped of control characters.
    static func quoteShort(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(64).map(Character.init))
        return "\"\(cleaned)\"" + (text.unicodeScalars.count > 64 ? "…" : "")
    }
}
