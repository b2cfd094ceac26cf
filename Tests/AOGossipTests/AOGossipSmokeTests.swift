import Testing
@testable import AOGossip

@Suite struct AOGossipSmokeTests {
    @Test func moduleLinks() { #expect(Bool(true)) }
}
