#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import StoreCore

extension EntryTree {
    /// An internal node: child count, then `separatorSlots` highs, lows and separator blocks
    /// (`[length: UInt32][bytes]`), then `separatorSlots + 1` children.
    struct Inner {
        let base: UnsafeMutableRawPointer
        static var capacity: Int { 64 }
        static var separatorSlots: Int { 64 }
        static var byteCount: Int { 16 + 24 * separatorSlots + 8 * (separatorSlots + 1) }

        init(_ base: UnsafeMutableRawPointer) { self.base = base }

        static func make(_ arena: inout EntryArena) -> UnsafeMutableRawPointer {
            let base = arena.allocate(byteCount)
            base.storeBytes(of: 0, as: Int.self)
            return base
        }

        /// Children (separators: one fewer).
        @inline(__always) var count: Int {
            get { base.load(as: Int.self) }
            nonmutating set { base.storeBytes(of: newValue, as: Int.self) }
        }
        /// Starts loading the node's key prefixes and children, what a descent reads of it.
        @inline(__always)
        func prefetch() {
            Prefetch.lines(base, from: 0, to: 16 + 16 * Self.separatorSlots)
            Prefetch.lines(base, from: 16 + 24 * Self.separatorSlots, to: Self.byteCount)
        }

        @inline(__always) var highs: UnsafeMutableRawPointer { base + 16 }
        @inline(__always) var lows: UnsafeMutableRawPointer { base + 16 + 8 * Self.separatorSlots }
        @inline(__always) var separators: UnsafeMutableRawPointer { base + 16 + 16 * Self.separatorSlots }
        @inline(__always) var children: UnsafeMutableRawPointer { base + 16 + 24 * Self.separatorSlots }

        @inline(__always) func high(_ index: Int) -> UInt64 { highs.load(fromByteOffset: 8 * index, as: UInt64.self) }
        @inline(__always) func low(_ index: Int) -> UInt64 { lows.load(fromByteOffset: 8 * index, as: UInt64.self) }
        @inline(__always) func separator(_ index: Int) -> UnsafeMutableRawPointer {
            separators.load(fromByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
        }
        @inline(__always) func child(_ index: Int) -> UnsafeMutableRawPointer {
            children.load(fromByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
        }
        @inline(__always) func setChild(_ index: Int, _ child: UnsafeMutableRawPointer) {
            children.storeBytes(of: child, toByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
        }

        /// The child whose range holds `probe`: the number of separators ≤ `probe`.
        @inline(__always)
        func childIndex(_ probe: Probe) -> Int {
            var low = 0
            var high = count - 1
            while low < high {
                let middle = (low + high) >> 1
                let order = EntryTree.compare(probe, self.high(middle), self.low(middle)) { EntryTree.separatorKey(separator(middle)) }
                if order >= 0 { low = middle + 1 } else { high = middle }
            }
            return low
        }

        /// Inserts separator `separator` at `index` and `child` after it (at `index + 1`).
        func insert(separator: (high: UInt64, low: UInt64, block: UnsafeMutableRawPointer), child: UnsafeMutableRawPointer, at index: Int) {
            let separatorTail = count - 1 - index
            if separatorTail > 0 {
                EntryTree.shift(highs, lows, separators, from: index, to: index + 1, count: separatorTail)
            }
            highs.storeBytes(of: separator.high, toByteOffset: 8 * index, as: UInt64.self)
            lows.storeBytes(of: separator.low, toByteOffset: 8 * index, as: UInt64.self)
            separators.storeBytes(of: separator.block, toByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
            let childTail = count - (index + 1)
            if childTail > 0 {
                (children + 8 * (index + 2)).copyMemory(from: children + 8 * (index + 1), byteCount: 8 * childTail)
            }
            setChild(index + 1, child)
            count += 1
        }

        /// Removes child `index` and a separator beside it (the one before it, or the first).
        /// - Returns: the separator's block, or nil when the node had one child.
        func removeChild(at index: Int) -> UnsafeMutableRawPointer? {
            let childTail = count - index - 1
            if childTail > 0 { (children + 8 * index).copyMemory(from: children + 8 * (index + 1), byteCount: 8 * childTail) }
            count -= 1
            guard count > 0 else { return nil }
            let removed = max(index - 1, 0)
            let block = separator(removed)
            let separatorTail = count - 1 - removed
            if separatorTail > 0 {
                EntryTree.shift(highs, lows, separators, from: removed + 1, to: removed, count: separatorTail)
            }
            return block
        }
    }

    /// Moves `count` 8-byte slots of three parallel arrays from index `from` to index `to`
    /// (the ranges may overlap).
    @inline(__always)
    static func shift(_ a: UnsafeMutableRawPointer, _ b: UnsafeMutableRawPointer, _ c: UnsafeMutableRawPointer, from: Int, to: Int, count: Int) {
        let bytes = 8 * count
        memmove(a + 8 * to, a + 8 * from, bytes)
        memmove(b + 8 * to, b + 8 * from, bytes)
        memmove(c + 8 * to, c + 8 * from, bytes)
    }
}
