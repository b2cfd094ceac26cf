import AOCore
import Foundation

/// How fast this machine is right now, printed by every benchmark beside its numbers. The machines we measure on are
/// shared VMs whose speed swings from day to day (neighbours, CPU steal) by more than most changes we measure, so a
/// number is only comparable to another taken at a similar gauge.
public enum MachineGauge {
    /// The 1, 5 and 15 minute load averages from /proc/loadavg ("?" where there is none).
    public static func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
    }

    /// Ed25519 verifies per second on one thread: the unit of work every node does for every message. Takes about
    /// `count / 20_000` seconds. `nanoseconds` is the caller's monotonic clock.
    public static func ed25519VerifiesPerSecond(count: Int = 4_000, nanoseconds: () -> UInt64) -> Double {
        let key = Ed25519PrivateKey(seed: [UInt8](repeating: 0x5a, count: 32))!
        let message = [UInt8](repeating: 0xa5, count: 48)  // a deep hash's size
        let signature = key.sign(message)
        let publicKey = key.publicKey
        let start = nanoseconds()
        var valid = 0
        for _ in 0..<max(1, count) where Ed25519.verify(signature: signature, message: message, publicKey: publicKey) { valid += 1 }
        let seconds = Double(nanoseconds() &- start) / 1e9
        precondition(valid == max(1, count), "the gauge's own signature failed to verify")
        return Double(valid) / max(seconds, 1e-9)
    }

    /// One line for a benchmark's header: cores, load, and the verify rate.
    public static func summary(nanoseconds: () -> UInt64) -> String {
        let verifies = ed25519VerifiesPerSecond(nanoseconds: nanoseconds)
        return "machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, load average \(loadAverage()), "
            + String(format: "ed25519 verify %.0f/s on one thread", verifies)
            + " (numbers scale with both; compare runs at a similar gauge)"
    }
}
