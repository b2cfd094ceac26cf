import Testing
@testable import AOCore

@Suite struct AOCoreSmokeTests {
    @Test func moduleLinks() { #expect(Bool(true)) }
}
