import StoreCore

extension EntryTree {
    /// A leaf: count, next and previous leaf, then `slots` highs, lows and entry pointers.
    struct Leaf {
        let base: UnsafeMutableRawPointer
        static var capacity: Int { 64 }
        /// One more than the capacity: a full leaf takes the new entry, then splits.
        static var slots: Int { 65 }
        static var byteCount: Int { 32 + 24 * slots }

        init(_ base: UnsafeMutableRawPointer) { self.base = base }

        static func make(_ arena: inout EntryArena) -> UnsafeMutableRawPointer {
            let base = arena.allocate(byteCount)
            base.initializeMemory(as: UInt8.self, repeating: 0, count: 32)
            return base
        }

        @inline(__always) var count: Int {
            get { base.load(as: Int.self) }
            nonmutating set { base.storeBytes(of: newValue, as: Int.self) }
        }

        /// Starts loading the whole leaf: a search, and the shift after it, then find its lines
        /// arriving together instead of missing on one after another.
        @inline(__always)
        func prefetch() {
            Prefetch.lines(base, from: 0, to: Self.byteCount)
        }

        /// Starts loading the header and the entry pointers (what a scan reads of a leaf).
        @inline(__always)
        func prefetchEntries() {
            Prefetch.line(base)
            Prefetch.lines(base, from: 32 + 16 * Self.slots, to: Self.byteCount)
        }

        @inline(__always) var next: UnsafeMutableRawPointer? {
            get { base.load(fromByteOffset: 8, as: UnsafeMutableRawPointer?.self) }
            nonmutating set { base.storeBytes(of: newValue, toByteOffset: 8, as: UnsafeMutableRawPointer?.self) }
        }
        @inline(__always) var previous: UnsafeMutableRawPointer? {
            get { base.load(fromByteOffset: 16, as: UnsafeMutableRawPointer?.self) }
            nonmutating set { base.storeBytes(of: newValue, toByteOffset: 16, as: UnsafeMutableRawPointer?.self) }
        }
        @inline(__always) var highs: UnsafeMutableRawPointer { base + 32 }
        @inline(__always) var lows: UnsafeMutableRawPointer { base + 32 + 8 * Self.slots }
        @inline(__always) var entries: UnsafeMutableRawPointer { base + 32 + 16 * Self.slots }

        @inline(__always) func high(_ index: Int) -> UInt64 { highs.load(fromByteOffset: 8 * index, as: UInt64.self) }
        @inline(__always) func low(_ index: Int) -> UInt64 { lows.load(fromByteOffset: 8 * index, as: UInt64.self) }
        @inline(__always) func entry(_ index: Int) -> MemoryEntry {
            MemoryEntry(entries.load(fromByteOffset: 8 * index, as: UnsafeMutableRawPointer.self))
        }
        @inline(__always) func setEntry(_ index: Int, _ entry: MemoryEntry) {
            entries.storeBytes(of: entry.base, toByteOffset: 8 * index, as: UnsafeMutableRawPointer.self)
        }

        /// The first slot whose key is ≥ `probe`, and whether it is equal.
        @inline(__always)
        func lowerBound(_ probe: Probe) -> (index: Int, found: Bool) {
            var low = 0
            var high = count
            while low < high {
                let middle = (low + high) >> 1
                let order = EntryTree.compare(probe, self.high(middle), self.low(middle)) { entry(middle).key }
                if order == 0 { return (middle, true) }
                if order > 0 { low = middle + 1 } else { high = middle }
            }
            return (low, false)
        }

        /// Opens slot `index` (moving the slots after it) and fills it.
        func insert(_ probe: Probe, _ entry: MemoryEntry, at index: Int) {
            let tail = count - index
            if tail > 0 {
                EntryTree.shift(highs, lows, entries, from: index, to: index + 1, count: tail)
            }
            highs.storeBytes(of: probe.high, toByteOffset: 8 * index, as: UInt64.self)
            lows.storeBytes(of: probe.low, toByteOffset: 8 * index, as: UInt64.self)
            setEntry(index, entry)
            count += 1
        }

        func remove(at index: Int) {
            let tail = count - index - 1
            if tail > 0 {
                EntryTree.shift(highs, lows, entries, from: index + 1, to: index, count: tail)
            }
            count -= 1
        }

        /// Moves slots from `index` on to the empty leaf `other`.
        func move(from index: Int, to other: Leaf) {
            let moved = count - index
            other.highs.copyMemory(from: highs + 8 * index, byteCount: 8 * moved)
            other.lows.copyMemory(from: lows + 8 * index, byteCount: 8 * moved)
            other.entries.copyMemory(from: entries + 8 * index, byteCount: 8 * moved)
            other.count = moved
            count = index
        }
    }
}
