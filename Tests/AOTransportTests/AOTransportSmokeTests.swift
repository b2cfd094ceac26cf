import Testing
@testable import AOTransport

@Suite struct AOTransportSmokeTests {
    @Test func moduleLinks() { #expect(Bool(true)) }
}
