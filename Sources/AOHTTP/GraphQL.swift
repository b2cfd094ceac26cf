import AOCore

/// A hand-written parser for the GraphQL queries that AO tooling sends to a gateway, and nothing more.
///
/// Supported: one `query` operation (anonymous or named) with variable definitions, `#` comments, aliases,
/// arguments with every literal kind (string, int, float, boolean, null, enum, list, object) and `$variables`,
/// nested selection sets and `__typename`. The root fields are `transactions(ids, owners, recipients, tags, first,
/// after, sort)` and `transaction(id)`. Not supported (a clear error, never a guess): mutations, subscriptions,
/// fragments, directives, block strings, and any other root field or argument (e.g. `block: {min,max}` filters:
/// aonode items are not in Arweave blocks).
///
/// Limits: `HTTPLimits.graphqlQueryBytesMax`, `graphqlTokensMax`, `graphqlDepthMax`, `graphqlListCountMax`,
/// `graphqlFirstMax`. These shapes come from `scheduler-utils/src/client/gateway.js` (`GetSchedulerLocation`,
/// `GetTransactions`) and `connect/src/client/gateway.js` (`loadTransactionMeta`).
enum GraphQL {
    struct Failure: Error, Equatable { let message: String }

    // MARK: syntax

    indirect enum Value: Equatable {
        case variable(String)
        case int(Int64)
        case float(Double)
        case string(String)
        case bool(Bool)
        case null
        case enumValue(String)
        case list([Value])
        case object([(String, Value)])

        static func == (l: Value, r: Value) -> Bool {
            switch (l, r) {
            case let (.variable(a), .variable(b)), let (.string(a), .string(b)), let (.enumValue(a), .enumValue(b)):
                return a == b
            case let (.int(a), .int(b)): return a == b
            case let (.float(a), .float(b)): return a == b
            case let (.bool(a), .bool(b)): return a == b
            case (.null, .null): return true
            case let (.list(a), .list(b)): return a == b
            case let (.object(a), .object(b)): return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
            default: return false
            }
        }
    }

    struct Field: Equatable {
        var alias: String?
        var name: String
        var arguments: [(String, Value)]
        var selections: [Field]
        var responseKey: String { alias ?? name }

        static func == (l: Field, r: Field) -> Bool {
            l.alias == r.alias && l.name == r.name && l.selections == r.selections
                && l.arguments.count == r.arguments.count
                && zip(l.arguments, r.arguments).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        }
    }

    struct Operation: Equatable {
        var name: String?
        /// Declared variables with their default values (nil when none).
        var variableDefaults: [String: Value?]
        var selections: [Field]
    }

    enum Token: Equatable {
        case punct(Character)  // { } ( ) [ ] : ! $ = @ and "..." as "."
        case name(String)
        case int(Int64)
        case float(Double)
        case string(String)
    }

    static func tokenize(_ text: String) throws(Failure) -> [Token] {
        guard text.utf8.count <= HTTPLimits.graphqlQueryBytesMax else {
            throw Failure(message: "The query is longer than \(HTTPLimits.graphqlQueryBytesMax) bytes.")
        }
        var tokens: [Token] = []
        let s = Array(text.unicodeScalars)
        var i = 0
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
        func isNameChar(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || ("0"..."9").contains(c) }
        while i < s.count {
            guard tokens.count <= HTTPLimits.graphqlTokensMax else {
                throw Failure(message: "The query has more than \(HTTPLimits.graphqlTokensMax) tokens.")
            }
            let c = s[i]
            switch c {
            case " ", "\t", "\n", "\r", ",", "\u{FEFF}": i += 1
            case "#": while i < s.count, s[i] != "\n", s[i] != "\r" { i += 1 }
            case "{", "}", "(", ")", "[", "]", ":", "!", "$", "=", "@":
                tokens.append(.punct(Character(c))); i += 1
            case ".":
                guard i + 2 < s.count, s[i + 1] == ".", s[i + 2] == "." else { throw Failure(message: "Unexpected '.'.") }
                tokens.append(.punct(".")); i += 3
            case "\"":
                if i + 2 < s.count, s[i + 1] == "\"", s[i + 2] == "\"" {
                    throw Failure(message: "Block strings are not supported.")
                }
                i += 1
                var out = String.UnicodeScalarView()
                while true {
                    guard i < s.count, s[i] != "\n", s[i] != "\r" else { throw Failure(message: "Unterminated string.") }
                    let d = s[i]; i += 1
                    if d == "\"" { break }
                    if d == "\\" {
                        guard i < s.count else { throw Failure(message: "Unterminated string.") }
                        let e = s[i]; i += 1
                        switch e {
                        case "\"": out.append("\"")
                        case "\\": out.append("\\")
                        case "/": out.append("/")
                        case "b": out.append("\u{08}")
                        case "f": out.append("\u{0C}")
                        case "n": out.append("\n")
                        case "r": out.append("\r")
                        case "t": out.append("\t")
                        case "u":
                            guard i + 4 <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<i + 4])), radix: 16),
                                  let scalar = Unicode.Scalar(v) else { throw Failure(message: "Bad \\u escape in a string.") }
                            out.append(scalar); i += 4
                        default: throw Failure(message: "Bad escape in a string.")
                        }
                    } else {
                        out.append(d)
                    }
                }
                tokens.append(.string(String(out)))
            case "-", "0"..."9":
                let start = i
                if s[i] == "-" { i += 1 }
                var isFloat = false
                while i < s.count, ("0"..."9").contains(s[i]) || s[i] == "." || s[i] == "e" || s[i] == "E"
                    || ((s[i] == "+" || s[i] == "-") && (s[i - 1] == "e" || s[i - 1] == "E"))
                {
                    if !("0"..."9").contains(s[i]) { isFloat = true }
                    i += 1
                }
                let text = String(String.UnicodeScalarView(s[start..<i]))
                if !isFloat, let v = Int64(text) { tokens.append(.int(v)) }
                else if isFloat, let v = Double(text) { tokens.append(.float(v)) }
                else { throw Failure(message: "Invalid number \(APIError.quoteShort(text)).") }
            default:
                guard isNameStart(c) else { throw Failure(message: "Unexpected character \(APIError.quoteShort(String(c))).") }
                let start = i
                while i < s.count, isNameChar(s[i]) { i += 1 }
                tokens.append(.name(String(String.UnicodeScalarView(s[start..<i]))))
            }
        }
        return tokens
    }

    struct Parser {
        var tokens: [Token]
        var index = 0

        init(tokens: [Token]) { self.tokens = tokens }

        var peek: Token? { index < tokens.count ? tokens[index] : nil }

        mutating func next() throws(Failure) -> Token {
            guard index < tokens.count else { throw Failure(message: "Unexpected end of query.") }
            defer { index += 1 }
            return tokens[index]
        }

        mutating func expect(_ p: Character) throws(Failure) {
            let t = try next()
            guard t == .punct(p) else { throw Failure(message: "Expected '\(p)'.") }
        }

        mutating func name() throws(Failure) -> String {
            guard case .name(let n) = try next() else { throw Failure(message: "Expected a name.") }
            return n
        }

        mutating func isPunct(_ p: Character) -> Bool { peek == .punct(p) }

        mutating func document() throws(Failure) -> Operation {
            var op = Operation(name: nil, variableDefaults: [:], selections: [])
            if case .name(let keyword) = peek {
                switch keyword {
                case "query": index += 1
                case "mutation", "subscription": throw Failure(message: "Only queries are supported, not \(keyword).")
                case "fragment": throw Failure(message: "Fragments are not supported.")
                default: throw Failure(message: "Expected 'query' or '{'.")
                }
                if case .name(let n) = peek { op.name = n; index += 1 }
                if isPunct("(") { op.variableDefaults = try variableDefinitions() }
                if isPunct("@") { throw Failure(message: "Directives are not supported.") }
            }
            op.selections = try selectionSet(depth: 1)
            guard peek == nil else { throw Failure(message: "Only one operation per request is supported.") }
            return op
        }

        mutating func variableDefinitions() throws(Failure) -> [String: Value?] {
            try expect("(")
            var defs: [String: Value?] = [:]
            while !isPunct(")") {
                try expect("$")
                let n = try name()
                try expect(":")
                try typeReference(depth: 0)
                var defaultValue: Value? = nil
                if isPunct("=") { index += 1; defaultValue = try value(depth: 1, constant: true) }
                defs[n] = .some(defaultValue)
            }
            try expect(")")
            return defs
        }

        mutating func typeReference(depth: Int) throws(Failure) {
            guard depth < HTTPLimits.graphqlDepthMax else { throw Failure(message: "Type nested too deep.") }
            if isPunct("[") {
                index += 1
                try typeReference(depth: depth + 1)
                try expect("]")
            } else {
                _ = try name()
            }
            if isPunct("!") { index += 1 }
        }

        mutating func selectionSet(depth: Int) throws(Failure) -> [Field] {
            guard depth <= HTTPLimits.graphqlDepthMax else {
                throw Failure(message: "Selections nested deeper than \(HTTPLimits.graphqlDepthMax) levels.")
            }
            try expect("{")
            var fields: [Field] = []
            while !isPunct("}") {
                if isPunct(".") { throw Failure(message: "Fragments are not supported.") }
                var n = try name()
                var alias: String? = nil
                if isPunct(":") { index += 1; alias = n; n = try name() }
                var args: [(String, Value)] = []
                if isPunct("(") {
                    index += 1
                    while !isPunct(")") {
                        let a = try name()
                        try expect(":")
                        args.append((a, try value(depth: depth + 1, constant: false)))
                    }
                    try expect(")")
                }
                if isPunct("@") { throw Failure(message: "Directives are not supported.") }
                var sub: [Field] = []
                if isPunct("{") { sub = try selectionSet(depth: depth + 1) }
                fields.append(Field(alias: alias, name: n, arguments: args, selections: sub))
            }
            try expect("}")
            guard !fields.isEmpty else { throw Failure(message: "Empty selection set.") }
            return fields
        }

        mutating func value(depth: Int, constant: Bool) throws(Failure) -> Value {
            guard depth <= HTTPLimits.graphqlDepthMax else { throw Failure(message: "Value nested too deep.") }
            switch try next() {
            case .punct("$"):
                guard !constant else { throw Failure(message: "Variables are not allowed in default values.") }
                return .variable(try name())
            case .int(let v): return .int(v)
            case .float(let v): return .float(v)
            case .string(let v): return .string(v)
            case .name("true"): return .bool(true)
            case .name("false"): return .bool(false)
            case .name("null"): return .null
            case .name(let n): return .enumValue(n)
            case .punct("["):
                var items: [Value] = []
                while !isPunct("]") {
                    guard items.count < HTTPLimits.graphqlListCountMax else {
                        throw Failure(message: "A list has more than \(HTTPLimits.graphqlListCountMax) items.")
                    }
                    items.append(try value(depth: depth + 1, constant: constant))
                }
                index += 1
                return .list(items)
            case .punct("{"):
                var pairs: [(String, Value)] = []
                while !isPunct("}") {
                    let n = try name()
                    try expect(":")
                    pairs.append((n, try value(depth: depth + 1, constant: constant)))
                }
                index += 1
                return .object(pairs)
            default:
                throw Failure(message: "Expected a value.")
            }
        }
    }

    static func parse(_ text: String) throws(Failure) -> Operation {
        var parser = Parser(tokens: try tokenize(text))
        return try parser.document()
    }

    // MARK: arguments

    /// Substitutes variables (from the request's `variables` object, else the declared default, else null).
    static func resolve(_ value: Value, variables: JSONValue?, defaults: [String: Value?]) throws(Failure) -> JSONValue {
        switch value {
        case .variable(let n):
            if let v = variables?[n] { return v }
            guard let declared = defaults[n] else { throw Failure(message: "Variable $\(n) is not declared.") }
            if let d = declared { return try resolve(d, variables: nil, defaults: [:]) }
            return .null
        case .int(let v): return .integer(v)
        case .float(let v): return .double(v)
        case .string(let v), .enumValue(let v): return .string(v)
        case .bool(let v): return .bool(v)
        case .null: return .null
        case .list(let items):
            var out: [JSONValue] = []
            for item in items { out.append(try resolve(item, variables: variables, defaults: defaults)) }
            return .array(out)
        case .object(let pairs):
            var out: [(String, JSONValue)] = []
            for (k, v) in pairs { out.append((k, try resolve(v, variables: variables, defaults: defaults))) }
            return .object(out)
        }
    }

    /// A list argument: a list of strings, or one string (GraphQL input coercion of a single value to a list).
    static func stringList(_ value: JSONValue, _ argument: String) throws(Failure) -> [String] {
        let items: [JSONValue]
        switch value {
        case .null: return []
        case .string: items = [value]
        case .array(let a): items = a
        default: throw Failure(message: "\(argument) must be a list of strings.")
        }
        guard items.count <= HTTPLimits.graphqlListCountMax else {
            throw Failure(message: "\(argument) has more than \(HTTPLimits.graphqlListCountMax) items.")
        }
        var out: [String] = []
        for item in items {
            guard case .string(let s) = item else { throw Failure(message: "\(argument) must be a list of strings.") }
            out.append(s)
        }
        return out
    }

    static func ids(_ value: JSONValue, _ argument: String) throws(Failure) -> [ID32] {
        var out: [ID32] = []
        for s in try stringList(value, argument) {
            guard let id = ID32(base64URL: s) else {
                throw Failure(message: "\(argument) must hold 43-character base64url ids, got \(APIError.quoteShort(s)).")
            }
            out.append(id)
        }
        return out
    }

    /// Builds the node query from `transactions(...)` arguments (already resolved).
    static func transactionsQuery(_ args: [(String, JSONValue)]) throws(Failure) -> TransactionsQuery {
        var q = TransactionsQuery()
        var seen = Set<String>()
        for (name, value) in args {
            guard seen.insert(name).inserted else { throw Failure(message: "Argument \(name) is given twice.") }
            switch name {
            case "ids": q.ids = try ids(value, name).map(MessageID.init(raw:))
            case "owners": q.owners = try ids(value, name).map(Address.init(raw:))
            case "recipients": q.recipients = try ids(value, name)
            case "tags":
                guard case .array(let filters) = value else {
                    if value.isNull { continue }
                    throw Failure(message: "tags must be a list of {name, values} objects.")
                }
                guard filters.count <= HTTPLimits.graphqlListCountMax else {
                    throw Failure(message: "tags has more than \(HTTPLimits.graphqlListCountMax) filters.")
                }
                for f in filters {
                    guard case .object(let fields) = f else { throw Failure(message: "Each tag filter must be an object.") }
                    var tagName: String? = nil
                    var values: [String] = []
                    for (k, v) in fields {
                        switch (k, v) {
                        case ("name", .string(let s)): tagName = s
                        case ("values", _): values = try stringList(v, "tags.values")
                        case ("op", .string("EQ")), ("match", .string("EXACT")): break
                        case ("op", _), ("match", _):
                            throw Failure(message: "Only op: EQ and match: EXACT tag filters are supported.")
                        default: throw Failure(message: "Unknown tag filter field \(APIError.quoteShort(k)).")
                        }
                    }
                    guard let tagName else { throw Failure(message: "A tag filter needs a name.") }
                    guard !values.isEmpty else { throw Failure(message: "A tag filter needs at least one value.") }
                    q.tags.append(.init(name: tagName, values: values))
                }
            case "first":
                switch value {
                case .null: break
                case .integer(let n) where n >= 0 && n <= Int64(HTTPLimits.graphqlFirstMax): q.first = Int(n)
                default: throw Failure(message: "first must be an integer from 0 to \(HTTPLimits.graphqlFirstMax).")
                }
            case "after":
                switch value {
                case .null: break
                case .string(let s) where s.utf8.count <= 256: q.after = s
                default: throw Failure(message: "after must be a cursor string.")
                }
            case "sort":
                switch value {
                case .null: break
                case .string(let s):
                    guard let sort = TransactionsQuery.Sort(rawValue: s) else {
                        throw Failure(message: "sort must be HEIGHT_DESC or HEIGHT_ASC.")
                    }
                    q.sort = sort
                default: throw Failure(message: "sort must be HEIGHT_DESC or HEIGHT_ASC.")
                }
            default:
                throw Failure(message: "Argument \(APIError.quoteShort(name)) of transactions is not supported "
                              + "(supported: ids, owners, recipients, tags, first, after, sort).")
            }
        }
        return q
    }

    // MARK: results

    /// The full GraphQL `Transaction` object for an item; the executor projects it onto the selection.
    static func transactionNode(_ edge: TransactionsPage.Edge) -> JSONValue {
        let item = edge.item
        let contentType = item.tags.first { $0.nameString.lowercased() == "content-type" }?.valueString
        let zero: JSONValue = .object([("__typename", "Amount"), ("winston", "0"), ("ar", "0.000000000000")])
        var block: JSONValue = .null
        if let height = edge.blockHeight {
            block = .object([("__typename", "Block"), ("id", .string("")), ("timestamp", .integer(Int64(edge.blockTimestamp ?? 0))),
                             ("height", .integer(Int64(height))), ("previous", .string(""))])
        }
        return .object([
            ("__typename", "Transaction"),
            ("id", .string(item.id.base64URL)),
            ("anchor", .string(Base64URL.encode(item.anchor))),
            ("signature", .string(Base64URL.encode(item.signature))),
            ("recipient", .string(Base64URL.encode(item.target))),
            ("owner", .object([("__typename", "Owner"), ("address", .string(item.ownerAddress)),
                               ("key", .string(Base64URL.encode(item.ownerKey)))])),
            ("fee", zero),
            ("quantity", zero),
            ("data", .object([("__typename", "MetaData"), ("size", .string(String(item.data.count))),
                              ("type", contentType.map(JSONValue.string) ?? .null)])),
            ("tags", .array(item.tags.map { .object([("__typename", "Tag"), ("name", .string($0.nameString)), ("value", .string($0.valueString))]) })),
            ("block", block),
            ("bundledIn", .null),
            ("parent", .null),
        ])
    }

    static func connection(_ page: TransactionsPage) -> JSONValue {
        .object([
            ("__typename", "TransactionConnection"),
            ("pageInfo", .object([("__typename", "PageInfo"), ("hasNextPage", .bool(page.hasNextPage))])),
            ("edges", .array(page.edges.map {
                .object([("__typename", "TransactionEdge"), ("cursor", .string($0.cursor)), ("node", transactionNode($0))])
            })),
        ])
    }

    /// Projects a full value onto a selection set: only the selected fields, under their aliases, in the order
    /// asked. A field the type does not have is an error, as in GraphQL validation.
    static func project(_ value: JSONValue, _ selections: [Field], typePath: String) throws(Failure) -> JSONValue {
        switch value {
        case .null:
            return .null
        case .array(let items):
            var out: [JSONValue] = []
            for item in items { out.append(try project(item, selections, typePath: typePath)) }
            return .array(out)
        case .object(let pairs):
            guard !selections.isEmpty else { throw Failure(message: "Field \(typePath) needs a selection set.") }
            var out: [(String, JSONValue)] = []
            for field in selections {
                guard field.arguments.isEmpty else {
                    throw Failure(message: "Field \(typePath).\(field.name) takes no arguments here.")
                }
                guard let v = pairs.first(where: { $0.0 == field.name })?.1 else {
                    throw Failure(message: "Cannot query field \(APIError.quoteShort(field.name)) on \(typePath).")
                }
                out.append((field.responseKey, field.selections.isEmpty && isLeaf(v) ? v
                            : try project(v, field.selections, typePath: "\(typePath).\(field.name)")))
            }
            return .object(out)
        default:
            guard selections.isEmpty else { throw Failure(message: "Field \(typePath) is a scalar; it has no fields.") }
            return value
        }
    }

    static func isLeaf(_ v: JSONValue) -> Bool {
        switch v {
        case .object: return false
        case .array(let items): return items.allSatisfy(isLeaf)
        default: return true
        }
    }
}
