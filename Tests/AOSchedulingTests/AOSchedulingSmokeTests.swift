import Testing
@testable import AOScheduling

@Suite struct AOSchedulingSmokeTests {
    @Test func moduleLinks() { #expect(Bool(true)) }
}
