import AOCore
import Testing
@testable import AOTransport

@Suite struct FrameCodecTests {
    func records(_ n: Int) -> ([UInt8], [[UInt8]]) {
        var stream: [UInt8] = [], bodies: [[UInt8]] = []
        var rng = Xoshiro256(seed: 7)
        for i in 0..<n {
            let len = Int.random(in: 1...3000, using: &rng)
            let body = (0..<len).map { UInt8(truncatingIfNeeded: $0 &+ i) }
            FrameCodec.appendLength(body.count, to: &stream); stream += body; bodies.append(body)
        }
        return (stream, bodies)
    }

    @Test func decoderIsIndependentOfChunking() throws {
        let (stream, bodies) = records(200)
        for seed in 0..<20 as Range<UInt64> {
            var rng = Xoshiro256(seed: seed)
            var d = RecordDecoder(recordBytesLimit: 4096, largeRecordBytesMin: seed % 2 == 0 ? 16 << 10 : 500)
            var out: [[UInt8]] = []
            var i = 0
            while i < stream.count {
                let n = min(stream.count - i, Int.random(in: 1...(seed == 0 ? 1 : 5000), using: &rng))
                d.append(stream[i..<i + n]); i += n
                while let r = try d.next() { out.append(r) }
            }
            #expect(out == bodies)
            #expect(d.bufferedBytes == 0)
        }
    }

    @Test func largeRecordsAreCollectedDirectlyInAnyChunking() throws {
        var stream: [UInt8] = [], bodies: [[UInt8]] = []
        var rng = Xoshiro256(seed: 11)
        for i in 0..<40 {
            let len = i % 3 == 0 ? Int.random(in: 1...100, using: &rng) : Int.random(in: 16_000...90_000, using: &rng)
            let body = (0..<len).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
            FrameCodec.appendLength(body.count, to: &stream); stream += body; bodies.append(body)
        }
        for seed in 0..<6 as Range<UInt64> {
            var r = Xoshiro256(seed: seed)
            var d = RecordDecoder(recordBytesLimit: 100_000)
            var out: [[UInt8]] = []
            var i = 0
            while i < stream.count {
                let n = min(stream.count - i, Int.random(in: 1...(seed == 0 ? 7 : 70_000), using: &r))
                stream[i..<i + n].withUnsafeBytes { d.append($0) }
                i += n
                while let rec = try d.next() { out.append(rec) }
            }
            #expect(out == bodies)
            #expect(d.bufferedBytes == 0)
        }
    }

    @Test func overLimitLengthIsRefusedBeforeBuffering() {
        var d = RecordDecoder(recordBytesLimit: 100)
        d.append([0, 0, 0, 101])  // only the prefix: the limit applies before the body arrives
        #expect(throws: TransportError(.frameTooLarge, "")) { try d.next() }
        var z = RecordDecoder(recordBytesLimit: 100)
        z.append([0, 0, 0, 0])
        #expect(throws: TransportError(.protocolViolation, "")) { try z.next() }
    }

    @Test func frameHeaderChecks() throws {
        #expect(throws: TransportError(.unsupportedVersion, "")) { try FrameCodec.decodeFrame([2, 0x10, 0, 1][...]) }
        #expect(throws: TransportError(.protocolViolation, "")) { try FrameCodec.decodeFrame([1, 0x77][...]) }
        #expect(throws: TransportError(.protocolViolation, "")) { try FrameCodec.decodeFrame([1][...]) }
        let f = try FrameCodec.decodeFrame([1, 0x10, 0, 9, 42][...])
        #expect(f.type == .data)
        #expect(try FrameCodec.decodeData(f.payload) == Frame(channel: 9, payload: [42]))
        #expect(throws: TransportError(.protocolViolation, "")) { try FrameCodec.decodeStreamOpen([0, 1][...]) }
        #expect(try FrameCodec.decodeClose([0, 13][...]) == .replayedFrame)
        #expect(try FrameCodec.decodeClose([0xAB, 0xCD][...]) == .unknown)
    }

    @Test func limitsAreConsistent() {
        TransportLimits.default.validate()
        let l = TransportLimits.default
        #expect(l.recordBytesMax > l.frameBytesMax)
        #expect(l.recordBytesMax <= Wire.recordBytesHardMax)
        #expect(l.streamBytesMax >= 64 << 20)
    }

    @Test func backoffDoublesToTheCapWithSeededJitter() {
        var a = ReconnectBackoff(baseMilliseconds: 100, maxMilliseconds: 5_000)
        var b = a
        var r1 = Xoshiro256(seed: 3), r2 = Xoshiro256(seed: 3)
        var delays: [UInt64] = []
        for _ in 0..<10 { delays.append(a.nextDelay(using: &r1)) }
        for d in delays { #expect(d == b.nextDelay(using: &r2)) }
        #expect(delays[0] >= 100 && delays[0] < 150)
        #expect(delays[3] >= 800 && delays[3] < 1200)
        #expect(delays.last! == 5_000)
        a.reset()
        #expect(a.nextDelay(using: &r1) < 150)
    }
}

/// A reader that receives large records straight into their arrays (`withLargeRecordSpace`), mixed with `append`,
/// gets the same records as one that only appends.
@Suite struct DirectReceiveTests {
    @Test func directFillsGiveTheSameRecordsAsAppends() throws {
        var whole: [UInt8] = [], expected: [[UInt8]] = []
        for (i, n) in [5, 70_000, 3, 20_000, 1, 100_000, 16_384, 9].enumerated() {
            let body = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ i) }
            FrameCodec.appendUInt32(UInt32(n), to: &whole); whole += body; expected.append(body)
        }
        for seed in 0..<20 {
            var rng = Xoshiro256(seed: UInt64(seed))
            var d = RecordDecoder(recordBytesLimit: 200_000, largeRecordBytesMin: seed % 2 == 0 ? 16 << 10 : 100)
            var got: [[UInt8]] = [], i = 0, direct = 0
            while i < whole.count {
                let want = Int(rng.next() % 40_000) + 1
                let wrote: Int? = d.withLargeRecordSpace { space in
                    let n = min(want, space.count, whole.count - i)
                    whole.withUnsafeBytes { space.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[i..<(i + n)])) }
                    return n
                }
                if let n = wrote {
                    d.didFillLargeRecord(n); i += n; direct += 1
                } else {
                    let n = min(want, whole.count - i)
                    d.append(whole[i..<(i + n)]); i += n
                }
                while let r = try d.next() { got.append(r) }
            }
            #expect(got == expected)
            #expect(direct > 0)
            #expect(d.bufferedBytes == 0)
        }
    }
}
