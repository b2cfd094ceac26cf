import AOTestSupport
import Dispatch
import Testing

struct MachineGaugeTests {
    /// The gauge's numbers are what the benchmarks print beside their results: they must be real readings.
    @Test func theGaugeReadsTheLoadAndARealVerifyRate() {
        let load = MachineGauge.loadAverage()
        let fields = load.split(separator: " ")
        #expect(fields.count == 3 && fields.allSatisfy { Double($0) != nil }, "load average \(load)")
        let rate = MachineGauge.ed25519VerifiesPerSecond(count: 200) { DispatchTime.now().uptimeNanoseconds }
        #expect(rate > 100 && rate < 10_000_000, "\(rate) verifies/s")  // libsodium runs 10^4-10^5/s on any CPU we use
        #expect(MachineGauge.summary { DispatchTime.now().uptimeNanoseconds }.contains("ed25519 verify"))
    }
}
