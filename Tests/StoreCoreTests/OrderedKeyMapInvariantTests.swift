@testable import StoreCore
import Testing

@Suite("OrderedKeyMap invariants")
struct OrderedKeyMapInvariantTests {
    /// Checks a subtree: keys sorted and within the separators' bounds, every prefix matching its
    /// key, one separator fewer than children.
    func problem(_ node: OrderedKeyMap<Int>.Node, low: [UInt8]?, high: [UInt8]?) -> String? {
        if node.isLeaf {
            for index in 0..<node.count {
                let key = Array(node.key(index))
                if node.prefixes[index] != KeyPrefix.of(key) { return "leaf prefix \(index) does not match its key" }
                if let low, KeyOrder.compare(key, low) < 0 { return "leaf key below its separator" }
                if let high, KeyOrder.compare(key, high) >= 0 { return "leaf key at or above the next separator" }
                if index > 0 && KeyOrder.compare(Array(node.key(index - 1)), key) >= 0 { return "leaf keys out of order" }
            }
            return nil
        }
        if node.separators.count != node.count - 1 { return "\(node.count) children but \(node.separators.count) separators" }
        for index in 0..<node.separators.count where node.prefixes[index] != KeyPrefix.of(node.separators[index]) {
            return "separator prefix \(index) does not match"
        }
        for child in 0..<node.count {
            let lower = child == 0 ? low : node.separators[child - 1]
            let upper = child == node.count - 1 ? high : node.separators[child]
            if let found = problem(node.children[child], low: lower, high: upper) { return "child \(child): \(found)" }
        }
        return nil
    }

    @Test("structure stays valid while keys of many lengths come and go (merges of leaves with garbage)")
    func invariants() {
        var random = SeededRandom(seed: 17)
        let map = OrderedKeyMap<Int>()
        let keys = (0..<60_000).map { _ in random.bytes(4 + random.below(40)) }
        for (index, key) in keys.enumerated() { map.insert(index, forKey: key) }
        #expect(problem(map.root, low: nil, high: nil) == nil)
        var present = Set(keys.indices)
        for (step, index) in keys.indices.shuffled(using: &random).enumerated() {
            #expect(map.removeValue(forKey: keys[index]) == index)
            present.remove(index)
            if step % 1999 == 0 {
                if let found = problem(map.root, low: nil, high: nil) {
                    Issue.record("after \(step) removals: \(found)")
                    return
                }
                for other in present.prefix(200) { #expect(map[keys[other]] == other) }
                // Put a few back, so leaves fill again after shrinking.
                for _ in 0..<50 {
                    let back = Int(random.below(keys.count))
                    if !present.contains(back) {
                        map.insert(back, forKey: keys[back])
                        present.insert(back)
                    }
                }
            }
        }
        #expect(map.count == present.count)
    }
}
