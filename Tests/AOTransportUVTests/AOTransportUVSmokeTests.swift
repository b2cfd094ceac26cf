import Testing
@testable import AOTransportUV

@Suite struct AOTransportUVSmokeTests {
    @Test func moduleLinks() { #expect(Bool(true)) }
}
