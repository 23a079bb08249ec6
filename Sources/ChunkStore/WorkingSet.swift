/// A transaction's private copies of chunks, by virtual id. Every node read inside a batch asks
/// it first, so it is a flat array indexed by id (no hashing), plus the ids that hold a copy.
struct WorkingSet {
    private var copies: [UnsafeMutableRawPointer?] = []
    /// Ids given a copy since the last `removeAll`; may repeat, and may name an id since removed.
    private var ids: [UInt32] = []

    @inline(__always)
    subscript(virtual: UInt32) -> UnsafeMutableRawPointer? {
        Int(virtual) < copies.count ? copies[Int(virtual)] : nil
    }

    mutating func set(_ virtual: UInt32, _ copy: UnsafeMutableRawPointer) {
        let index = Int(virtual)
        if index >= copies.count {
            copies.append(contentsOf: repeatElement(nil, count: max(index + 1 - copies.count, copies.count / 2)))
        }
        if copies[index] == nil { ids.append(virtual) }
        copies[index] = copy
    }

    /// Takes the copy of `virtual` out of the set.
    mutating func remove(_ virtual: UInt32) -> UnsafeMutableRawPointer? {
        guard let copy = self[virtual] else { return nil }
        copies[Int(virtual)] = nil
        return copy
    }

    /// Calls `body` with every (id, copy) pair, by ascending id. Sorts the ids in place: a
    /// commit does this once, and allocates nothing for it.
    mutating func forEachSorted<E: Error>(_ body: (UInt32, UnsafeMutableRawPointer) throws(E) -> Void) throws(E) {
        ids.sort()
        var previous: UInt32?
        for virtual in ids where virtual != previous {
            previous = virtual
            if let copy = copies[Int(virtual)] { try body(virtual, copy) }
        }
    }

    /// Empties the set, handing each copy still in it to `release` (if given; otherwise the
    /// caller has taken them over already).
    mutating func removeAll(releasing release: ((UnsafeMutableRawPointer) -> Void)? = nil) {
        for virtual in ids {
            if let copy = copies[Int(virtual)] { release?(copy) }
            copies[Int(virtual)] = nil
        }
        ids.removeAll(keepingCapacity: true)
    }
}
