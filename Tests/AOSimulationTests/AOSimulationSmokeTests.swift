import Testing
@testable import AOSimulation

@Suite struct AOSimulationSmokeTests {
    @Test func moduleLinks() { #expect(Bool(true)) }
}
