/// Things a commit let go of (chunks, table pages, snapshot records), in commit order, each
/// tagged with the commit that released it, until every commit up to some bound is safe (durable,
/// and older than any reader's snapshot). Appends and drains run at commit rate: the storage is
/// an array read from a moving head, compacted only when the drained part is most of it, so
/// neither allocates in the steady state.
struct CommitOrderedQueue<Element> {
    struct Entry {
        var txid: UInt64
        var element: Element
    }

    private var entries: [Entry] = []
    private var head = 0

    var count: Int { entries.count - head }

    /// `element` was released by commit `txid` (not below any earlier release's).
    mutating func append(_ element: Element, releasedBy txid: UInt64) {
        entries.append(Entry(txid: txid, element: element))
    }

    /// Removes and returns the oldest element released by a commit ≤ `txid`; `nil` when there is
    /// none left (a loop `while let e = queue.next(through: t)` drains them, and the caller may
    /// change its own state between elements).
    mutating func next(through txid: UInt64) -> Element? {
        if head < entries.count && entries[head].txid <= txid {
            head += 1
            return entries[head - 1].element
        }
        compact()
        return nil
    }

    private mutating func compact() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// The elements still waiting, oldest first.
    var waiting: ArraySlice<Entry> { entries[head...] }
}
