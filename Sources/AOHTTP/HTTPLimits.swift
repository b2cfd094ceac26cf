/// Fixed limits of the HTTP API. Each says why it has its value. Limits an operator may want to change (body size
/// of `POST /`, rate limits, timeouts) are in `HTTPServerSettings`, whose defaults come from here.
public enum HTTPLimits {
    /// Default body limit of `POST /`: 10 MiB, the limit of AO's SU (`PayloadConfig 10485760`) and MU (express raw
    /// parser), so anything AO accepts, aonode accepts. Modules bigger than this need a node configured higher.
    public static let submitBodyBytesDefault = 10 * 1024 * 1024
    /// `POST /dry-run` body: a dry-run message is a few tags and a small Data; 1 MiB leaves room for large Data
    /// without letting one request pin much memory.
    public static let dryRunBodyBytesMax = 1024 * 1024
    /// `POST /graphql` body: the queries aoconnect and scheduler-utils send are under 1 KiB; 64 KiB allows long
    /// id lists (`graphqlListCountMax` ids of 43 characters plus quoting) and variables.
    public static let graphqlBodyBytesMax = 64 * 1024
    /// Any other request must have an empty body (GETs); a body up to this size is read and ignored.
    public static let otherBodyBytesMax = 16 * 1024

    /// The whole query string (after `?`), in bytes. AO's parameters are ids (43), numbers and short flags;
    /// `exclude` lists are short. 4 KiB is far above any real request and bounds parsing work.
    public static let queryBytesMax = 4 * 1024
    /// Number of `name=value` pairs in a query string.
    public static let queryParametersMax = 32
    /// The request path, in bytes. The longest route is `/processes/<43>/scheduler` (~64 bytes).
    public static let pathBytesMax = 1024
    /// All header fields of a request together: no route needs large headers, and NIO's default (80 KiB) lets a
    /// client make the server buffer more than it ever needs.
    public static let headerBytesMax = 16 * 1024
    /// Number of header fields per request.
    public static let headerFieldsMax = 64

    /// Default and maximum `limit` of `GET /{process}` (AO's SU defaults to 100; the CU asks for 1000 per page,
    /// `LOAD_MESSAGES_PAGE_SIZE`, so the maximum must allow 1000).
    public static let assignmentPageLimitDefault = 100
    public static let assignmentPageLimitMax = 1000
    /// Default and maximum `limit` of `GET /results/{process}` (AO's CU: default 25; the MU's monitor asks for 50).
    public static let resultsPageLimitDefault = 25
    public static let resultsPageLimitMax = 1000
    /// Default and maximum `limit` of `GET /cron/{process}` (AO's CU: default 500, max 1000).
    public static let cronPageLimitDefault = 500
    public static let cronPageLimitMax = 1000

    /// Nesting depth of a JSON body (dry-run, GraphQL variables). Real bodies nest 3 levels.
    public static let jsonDepthMax = 32
    /// Tags in a dry-run message: ANS-104's own limit on a data item's tags.
    public static let dryRunTagsCountMax = 128

    /// GraphQL: query text length in bytes (the body may also carry variables).
    public static let graphqlQueryBytesMax = 16 * 1024
    /// GraphQL: nesting of selection sets and argument values. `transactions { edges { node { owner { address } } } }`
    /// is 5 deep.
    public static let graphqlDepthMax = 12
    /// GraphQL: items in one list argument (ids, owners, recipients, tags, tag values). ar-io gateways cap id lists
    /// near 100.
    public static let graphqlListCountMax = 100
    /// GraphQL: tokens in one query, to bound the parser's work on hostile input.
    public static let graphqlTokensMax = 4096
    /// GraphQL: default and maximum `first` (Arweave gateways: default 10, maximum 100).
    public static let graphqlFirstDefault = 10
    public static let graphqlFirstMax = 100

    /// `Retry-After` is sent in whole seconds (RFC 9110 delay-seconds), never 0: a client told "0" retries at once.
    public static let retryAfterSecondsMin = 1
    /// Clients whose token buckets the rate limiter remembers. Past this, idle (full) buckets are dropped first,
    /// then the least recently seen: memory stays bounded even under a flood of source addresses.
    public static let rateLimitClientsMax = 10_000
}
