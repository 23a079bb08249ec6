import StoreCore
import Testing

@Suite("OrderedKeyMap")
struct OrderedKeyMapTests {
    @Test("random inserts, overwrites and removes agree with a sorted reference", arguments: [1, 2, 3] as [UInt64])
    func agreesWithReference(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let map = OrderedKeyMap<Int>()
        var reference: [[UInt8]: Int] = [:]
        for step in 0..<40_000 {
            // Short keys collide and are prefixes of each other; long ones share 8-byte prefixes,
            // so searches must fall back from the integer prefix to the bytes.
            let key = random.below(2) == 0
                ? random.bytes(random.below(6))
                : Array("sharedpf".utf8) + random.bytes(random.below(3)) + Array(repeating: 7, count: random.below(90))
            if random.below(3) == 0 {
                #expect(map.removeValue(forKey: key) == reference.removeValue(forKey: key), "step \(step)")
            } else if random.below(4) == 0 {
                let replaced = key.withUnsafeBytes { map.replaceValue(step, forKey: $0) }
                #expect(replaced == reference[key], "step \(step)")
                if replaced != nil { reference[key] = step }
            } else {
                #expect(map.insert(step, forKey: key) == reference.updateValue(step, forKey: key), "step \(step)")
            }
            #expect(map.count == reference.count)
        }
        let sorted = reference.keys.sorted(by: KeyOrder.less)
        var visited: [[UInt8]] = []
        map.forEach(from: nil) { key, value in
            visited.append(Array(key))
            #expect(reference[Array(key)] == value)
            return true
        }
        #expect(visited == sorted)
        for _ in 0..<200 {
            let start = random.bytes(random.below(4))
            var got: [[UInt8]] = []
            map.forEach(from: start) { key, _ in
                got.append(Array(key))
                return got.count < 7
            }
            let want = Array(sorted.filter { KeyOrder.compare($0, start) >= 0 }.prefix(7))
            #expect(got == want, "from \(start)")
        }
    }

    @Test("grows to many levels and empties completely")
    func growAndShrink() {
        let map = OrderedKeyMap<Int>()
        let count = 100_000
        func key(_ index: Int) -> [UInt8] {
            let scrambled = UInt32(truncatingIfNeeded: index &* 2_654_435_761)
            return [UInt8(scrambled >> 24), UInt8(truncatingIfNeeded: scrambled >> 16), UInt8(truncatingIfNeeded: scrambled >> 8), UInt8(truncatingIfNeeded: scrambled)]
        }
        for index in 0..<count { map.insert(index, forKey: key(index)) }
        #expect(map.count == count)
        for index in stride(from: 0, to: count, by: 7) { #expect(map[key(index)] == index) }
        for index in 0..<count where index % 2 == 0 { map.removeValue(forKey: key(index)) }
        #expect(map.count == count / 2)
        for index in stride(from: 0, to: count, by: 5) { #expect(map[key(index)] == (index % 2 == 0 ? nil : index)) }
        for index in 0..<count { map.removeValue(forKey: key(index)) }
        #expect(map.isEmpty)
        #expect(map.firstKey == nil)
        map.insert(1, forKey: [9])
        #expect(map.firstKey == [9])
    }
}
