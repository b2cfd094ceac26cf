import Testing
@testable import AOCompute

@Suite struct AOComputeSmokeTests {
    @Test func moduleLinks() { #expect(Bool(true)) }
}
