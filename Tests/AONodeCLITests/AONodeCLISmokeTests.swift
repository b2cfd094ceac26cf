import Testing
@testable import AONodeCLI

@Suite struct AONodeCLISmokeTests {
    @Test func moduleLinks() { #expect(Bool(true)) }
}
