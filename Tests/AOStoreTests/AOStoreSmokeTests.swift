import Testing
@testable import AOStore

@Suite struct AOStoreSmokeTests {
    @Test func moduleLinks() { #expect(Bool(true)) }
}
