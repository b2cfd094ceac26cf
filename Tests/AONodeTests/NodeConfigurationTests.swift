import AOTransport
import Testing
@testable import AONode

@Suite struct NodeConfigurationTests {
    @Test func endpointParsing() {
        #expect(Endpoint(parsing: "127.0.0.1:7946") == Endpoint(host: "127.0.0.1", port: 7946))
        #expect(Endpoint(parsing: "localhost:1") == Endpoint(host: "127.0.0.1", port: 1))
        #expect(Endpoint(parsing: "[::1]:80") == Endpoint(host: "::1", port: 80))
        #expect(Endpoint(parsing: "host") == nil)
        #expect(Endpoint(parsing: "host:99999") == nil)
        #expect(Endpoint(parsing: ":80") == nil)
    }

    @Test func validationNamesTheSetting() {
        var c = NodeConfiguration()
        c.tickMilliseconds = 0
        #expect(throws: ConfigurationError("tick-ms", "must be 1...10000")) { try c.validate() }
        c = NodeConfiguration()
        c.http = c.listen
        #expect((try? c.validate()) == nil)
    }
}
