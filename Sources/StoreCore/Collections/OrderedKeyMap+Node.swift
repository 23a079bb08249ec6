extension OrderedKeyMap {
    /// One B+tree node. Its arrays are fixed-capacity buffers the node owns (allocated once, freed
    /// in `deinit`) rather than Swift arrays: reading a Swift array stored in a class retains and
    /// releases its buffer, two atomic operations per access that dominated lookups.
    ///
    /// A leaf holds `count` entries: key bytes in `arena` at `slots[i]` (offset | length << 32),
    /// `prefixes[i]` (`KeyPrefix` of the key) and `values[i]`. An internal node holds `count`
    /// children and `count - 1` separators (`separators[i]` ≤ every key of `children[i + 1]`) with
    /// their prefixes.
    @usableFromInline
    final class Node {
        @usableFromInline static var capacity: Int { 66 }

        @usableFromInline let isLeaf: Bool
        @usableFromInline var count = 0
        @usableFromInline let prefixes: UnsafeMutablePointer<UInt64>
        // Leaf
        @usableFromInline let slots: UnsafeMutablePointer<UInt64>
        @usableFromInline let values: UnsafeMutablePointer<Value>
        @usableFromInline var arena: UnsafeMutableRawPointer
        @usableFromInline var arenaCapacity: Int
        @usableFromInline var arenaUsed = 0
        /// Arena bytes no slot refers to any more.
        @usableFromInline var garbage = 0
        // Internal
        @usableFromInline var separators: [[UInt8]] = []
        @usableFromInline let children: UnsafeMutablePointer<Node>

        @usableFromInline
        init(isLeaf: Bool) {
            self.isLeaf = isLeaf
            let capacity = Self.capacity
            prefixes = .allocate(capacity: capacity)
            slots = .allocate(capacity: isLeaf ? capacity : 1)
            values = .allocate(capacity: isLeaf ? capacity : 1)
            children = .allocate(capacity: isLeaf ? 1 : capacity)
            arenaCapacity = isLeaf ? 256 : 0
            arena = .allocate(byteCount: max(arenaCapacity, 1), alignment: 8)
        }

        deinit {
            if isLeaf { values.deinitialize(count: count) } else { children.deinitialize(count: count) }
            prefixes.deallocate()
            slots.deallocate()
            values.deallocate()
            children.deallocate()
            arena.deallocate()
        }

        /// Leaf entries, or internal children.
        @usableFromInline var entryCount: Int { count }

        // MARK: Leaf entries

        @inlinable @inline(__always)
        func key(_ index: Int) -> UnsafeRawBufferPointer {
            let slot = slots[index]
            return UnsafeRawBufferPointer(start: arena + Int(truncatingIfNeeded: slot & 0xFFFF_FFFF), count: Int(truncatingIfNeeded: slot >> 32))
        }

        @inlinable
        func insertEntry(_ key: UnsafeRawBufferPointer, _ prefix: UInt64, _ value: Value, at index: Int) {
            if arenaUsed + key.count > arenaCapacity { growArena(toFit: key.count) }
            let offset = arenaUsed
            if key.count > 0 { (arena + offset).copyMemory(from: key.baseAddress!, byteCount: key.count) }
            arenaUsed += key.count
            let tail = count - index
            if tail > 0 {
                (slots + index + 1).update(from: slots + index, count: tail)
                (prefixes + index + 1).update(from: prefixes + index, count: tail)
                (values + index + 1).moveInitialize(from: values + index, count: tail)
            }
            slots[index] = UInt64(offset) | UInt64(key.count) << 32
            prefixes[index] = prefix
            (values + index).initialize(to: value)
            count += 1
        }

        @inlinable
        func removeEntry(at index: Int) -> Value {
            garbage += Int(truncatingIfNeeded: slots[index] >> 32)
            let value = (values + index).move()
            let tail = count - index - 1
            if tail > 0 {
                (slots + index).update(from: slots + index + 1, count: tail)
                (prefixes + index).update(from: prefixes + index + 1, count: tail)
                (values + index).moveInitialize(from: values + index + 1, count: tail)
            }
            count -= 1
            if garbage > 512 && garbage * 2 > arenaUsed { compactArena() }
            return value
        }

        @usableFromInline
        func growArena(toFit extra: Int) {
            if garbage * 2 > arenaUsed {
                compactArena()
                if arenaUsed + extra <= arenaCapacity { return }
            }
            var capacity = max(arenaCapacity * 2, 64)
            while capacity < arenaUsed + extra { capacity *= 2 }
            let grown = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
            grown.copyMemory(from: arena, byteCount: arenaUsed)
            arena.deallocate()
            arena = grown
            arenaCapacity = capacity
        }

        /// Rewrites the arena with only the keys the slots refer to, in key order.
        @usableFromInline
        func compactArena() {
            let packed = UnsafeMutableRawPointer.allocate(byteCount: max(arenaCapacity, 1), alignment: 8)
            var used = 0
            for index in 0..<count {
                let key = self.key(index)
                if key.count > 0 { (packed + used).copyMemory(from: key.baseAddress!, byteCount: key.count) }
                slots[index] = UInt64(used) | UInt64(key.count) << 32
                used += key.count
            }
            arena.deallocate()
            arena = packed
            arenaUsed = used
            garbage = 0
        }

        /// Moves leaf entries from `index` on to the end of `other`.
        @usableFromInline
        func moveEntries(from index: Int, to other: Node) {
            let moved = count - index
            guard moved > 0 else { return }
            // Make room for every moved key first: growing may compact `other`'s arena, which
            // rewrites only the slots `other.count` covers.
            var bytes = 0
            for position in index..<count { bytes += Int(truncatingIfNeeded: slots[position] >> 32) }
            if other.arenaUsed + bytes > other.arenaCapacity { other.growArena(toFit: bytes) }
            for position in index..<count {
                let key = self.key(position)
                if key.count > 0 { (other.arena + other.arenaUsed).copyMemory(from: key.baseAddress!, byteCount: key.count) }
                other.slots[other.count + position - index] = UInt64(other.arenaUsed) | UInt64(key.count) << 32
                other.arenaUsed += key.count
                garbage += key.count
            }
            (other.prefixes + other.count).update(from: prefixes + index, count: moved)
            (other.values + other.count).moveInitialize(from: values + index, count: moved)
            other.count += moved
            count = index
            compactArena()
        }

        // MARK: Internal children and separators

        @inlinable
        func insertSeparator(_ separator: [UInt8], at index: Int) {
            let tail = separators.count - index
            if tail > 0 { (prefixes + index + 1).update(from: prefixes + index, count: tail) }
            prefixes[index] = KeyPrefix.of(separator)
            separators.insert(separator, at: index)
        }

        @inlinable
        func removeSeparator(at index: Int) {
            let tail = separators.count - index - 1
            if tail > 0 { (prefixes + index).update(from: prefixes + index + 1, count: tail) }
            separators.remove(at: index)
        }

        @inlinable
        func insertChild(_ child: Node, at index: Int) {
            let tail = count - index
            if tail > 0 { (children + index + 1).moveInitialize(from: children + index, count: tail) }
            (children + index).initialize(to: child)
            count += 1
        }

        @inlinable
        func removeChild(at index: Int) {
            (children + index).deinitialize(count: 1)
            let tail = count - index - 1
            if tail > 0 { (children + index).moveInitialize(from: children + index + 1, count: tail) }
            count -= 1
        }

        /// Moves children from `index` on, and the separators after them, to the end of `other`;
        /// the separator before `children[index]` is dropped (the caller promotes it).
        @usableFromInline
        func moveChildren(from index: Int, to other: Node) {
            let moved = count - index
            guard moved > 0 else { return }
            (other.children + other.count).moveInitialize(from: children + index, count: moved)
            other.count += moved
            count = index
            let separatorTail = Array(separators[index...])
            for separator in separatorTail { other.insertSeparator(separator, at: other.separators.count) }
            separators.removeSubrange((index - 1)...)
        }
    }
}
