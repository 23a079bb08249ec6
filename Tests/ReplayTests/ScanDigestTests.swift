import Replay
import Testing

@Suite("ScanDigest")
struct ScanDigestTests {
    @Test("every byte of a buffer moves the digest, at every length and position")
    func everyByteCounts() {
        for count in [1, 7, 8, 9, 31, 32, 33, 63, 100, 224] {
            let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let base = bytes.withUnsafeBytes { ScanDigest.fold($0, into: 5) }
            for position in 0..<count {
                var changed = bytes
                changed[position] ^= 0x40
                let digest = changed.withUnsafeBytes { ScanDigest.fold($0, into: 5) }
                #expect(digest != base, "length \(count), byte \(position)")
            }
        }
    }

    @Test("the digest depends on the state it continues and on the buffer's length")
    func stateAndLength() {
        let zeros = [UInt8](repeating: 0, count: 16)
        let a = zeros.withUnsafeBytes { ScanDigest.fold($0, into: 1) }
        let b = zeros.withUnsafeBytes { ScanDigest.fold($0, into: 2) }
        let shorter = zeros.dropLast().withUnsafeBytes { ScanDigest.fold($0, into: 1) }
        #expect(a != b)
        #expect(a != shorter)
        #expect(ScanDigest.fold(UnsafeRawBufferPointer(start: nil, count: 0), into: 9) == 9)
    }
}
