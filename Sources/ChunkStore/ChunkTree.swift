#if canImport(Glibc)
import Glibc
#endif
import StoreCore

/// The key-value map of the `cow` engine: a B+tree whose nodes are chunks of a `ChunkFile`,
/// linked by virtual ids. Because a rewritten node keeps its virtual id, a change copies only
/// the nodes it touches — never the path to the root — and leaves keep stable `next` links.
///
/// Writes must run inside a chunk-file transaction, on the writer's thread; the tree keeps its
/// root and its key and byte counts in the transaction's meta. Reads (`get`, `scan`) are not
/// here: they are methods of any `ChunkSource` (TreeReading.swift) and touch no state of the
/// tree's, so any number of readers run them at once, each through its pinned snapshot.
final class ChunkTree {
    let chunks: ChunkFile
    let chunkSize: Int
    let maxEntry: Int
    let keyLimit: Int
    /// Chunk-sized scratch buffers of the writer (defragmenting, splitting, merging).
    private let scratch: UnsafeMutableRawPointer
    private let entryBuffer: UnsafeMutableRawPointer
    private var pathNodes: [UInt32] = []
    private var pathIndexes: [Int] = []

    init(chunks: ChunkFile) {
        self.chunks = chunks
        chunkSize = chunks.chunkSize
        maxEntry = NodeLayout.maxEntrySize(chunkSize)
        keyLimit = NodeLayout.keyLimit(chunkSize)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        entryBuffer = UnsafeMutableRawPointer.allocate(byteCount: chunkSize, alignment: 64)
        pathNodes.reserveCapacity(16)
        pathIndexes.reserveCapacity(16)
    }

    deinit {
        scratch.deallocate()
        entryBuffer.deallocate()
    }

    var keyCount: Int { Int(chunks.counters.0) }
    var liveBytes: Int { Int(chunks.counters.1) }

    func checkKey(_ count: Int) throws(StoreError) {
        if count > keyLimit {
            throw .invalidArgument("key of \(count) bytes exceeds the cow engine's limit of \(keyLimit) bytes for \(chunkSize)-byte chunks")
        }
    }

    // MARK: Lookup

    /// Descends to the leaf that would hold `key`, recording the path when `record` is set.
    @inline(__always)
    private func findLeaf(_ key: UnsafeRawBufferPointer, record: Bool) throws(StoreError) -> UInt32 {
        if record {
            pathNodes.removeAll(keepingCapacity: true)
            pathIndexes.removeAll(keepingCapacity: true)
        }
        var virtual = chunks.root
        var depth = 0
        while true {
            let node = NodeView(try chunks.read(virtual), chunkSize: chunkSize)
            if node.isLeaf { return virtual }
            guard node.kindByte == NodeKind.internal.rawValue, depth < 64 else {
                throw corrupt(virtual, "chunk is not a tree node (kind \(node.kindByte)) or the tree is deeper than 64")
            }
            let index = node.childIndex(key)
            if record {
                pathNodes.append(virtual)
                pathIndexes.append(index)
            }
            virtual = node.child(index)
            depth += 1
        }
    }

    func corrupt(_ virtual: UInt32, _ reason: String) -> StoreError {
        .corrupted(file: chunks.file.path, offset: -1, reason: "virtual chunk \(virtual): \(reason)")
    }

    // MARK: Put

    /// Inserts or replaces `key`. A put of the value already stored changes nothing.
    func put(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(StoreError) {
        if chunks.root == 0 {
            let (virtual, bytes) = chunks.reserve()
            NodeEditor(bytes, chunkSize: chunkSize).initialize(.leaf, link: 0)
            chunks.root = virtual
        }
        let leafId = try findLeaf(key, record: true)
        var leaf = NodeView(try chunks.read(leafId), chunkSize: chunkSize)
        let (index, found) = leaf.lowerBound(key)
        var counters = chunks.counters
        if found {
            let stored = leaf.value(index)
            if !stored.overflow && stored.length == value.count
                && (value.count == 0 || memcmp(leaf.base + stored.start, value.baseAddress!, value.count) == 0) {
                return
            }
            let overflow = stored.overflow ? leaf.overflowChunk(index) : 0
            let editor = NodeEditor(try chunks.modify(leafId), chunkSize: chunkSize)
            editor.remove(at: index)
            if overflow != 0 { try freeOverflow(overflow) }
            counters.0 -= 1
            counters.1 -= UInt64(key.count + stored.length)
            leaf = editor.view
        }
        let entry = try leafEntry(key, value)
        counters.0 += 1
        counters.1 += UInt64(key.count + value.count)
        chunks.counters = counters
        try insert(entry, at: index, into: leafId)
    }

    /// Builds the leaf entry for `key` and `value` in `entryBuffer`, moving a large value to
    /// overflow chunks.
    private func leafEntry(_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws(StoreError) -> UnsafeRawBufferPointer {
        let inline = NodeLayout.leafEntryHeader + key.count + value.count + 2 <= maxEntry
        entryBuffer.storeBytes(of: UInt16(key.count).littleEndian, as: UInt16.self)
        entryBuffer.storeBytes(of: inline ? 0 : NodeLayout.overflowFlag, toByteOffset: 2, as: UInt8.self)
        entryBuffer.storeBytes(of: UInt32(value.count).littleEndian, toByteOffset: 3, as: UInt32.self)
        if key.count > 0 {
            (entryBuffer + NodeLayout.leafEntryHeader).copyMemory(from: key.baseAddress!, byteCount: key.count)
        }
        let valueStart = NodeLayout.leafEntryHeader + key.count
        if inline {
            if value.count > 0 { (entryBuffer + valueStart).copyMemory(from: value.baseAddress!, byteCount: value.count) }
            return UnsafeRawBufferPointer(start: entryBuffer, count: valueStart + value.count)
        }
        let first = writeOverflow(value)
        entryBuffer.storeBytes(of: first.littleEndian, toByteOffset: valueStart, as: UInt32.self)
        return UnsafeRawBufferPointer(start: entryBuffer, count: valueStart + 4)
    }

    /// Inserts `entry` into node `virtual` (the last node of the recorded path's descent) and
    /// splits upward as needed.
    private func insert(_ entry: UnsafeRawBufferPointer, at index: Int, into virtual: UInt32) throws(StoreError) {
        var node = virtual
        var editor = NodeEditor(try chunks.modify(node), chunkSize: chunkSize)
        if editor.insert(entry, at: index, scratch: scratch) { return }
        var (separator, right) = split(editor, inserting: entry, at: index)
        var level = pathNodes.count - 1
        while true {
            if level < 0 {
                // The root split: a new root above the two halves.
                let (rootId, bytes) = chunks.reserve()
                let root = NodeEditor(bytes, chunkSize: chunkSize)
                root.initialize(.internal, link: node)
                _ = separator.withUnsafeBytes { root.insert($0, at: 0, scratch: scratch) }
                chunks.root = rootId
                return
            }
            node = pathNodes[level]
            let position = pathIndexes[level]
            editor = NodeEditor(try chunks.modify(node), chunkSize: chunkSize)
            let fitted = separator.withUnsafeBytes { editor.insert($0, at: position, scratch: scratch) }
            if fitted { return }
            (separator, right) = separator.withUnsafeBytes { split(editor, inserting: $0, at: position) }
            _ = right
            level -= 1
        }
    }

    /// Splits the full node in `editor` while inserting `entry` at `index`: the lower half stays,
    /// the upper half moves to a new chunk. Returns the internal entry (separator key → new
    /// chunk) for the parent.
    private func split(_ editor: NodeEditor, inserting entry: UnsafeRawBufferPointer, at index: Int) -> (separator: [UInt8], right: UInt32) {
        let old = NodeView(UnsafeRawPointer(scratch), chunkSize: chunkSize)
        scratch.copyMemory(from: editor.base, byteCount: chunkSize)
        // The new entry may live in entryBuffer or in a caller's array: copy it next to the
        // old node's bytes so every entry stays valid while the node is rebuilt.
        let entryCopy = [UInt8](entry)
        return entryCopy.withUnsafeBytes { entry in
            var entries: [UnsafeRawBufferPointer] = []
            entries.reserveCapacity(old.count + 1)
            for position in 0..<old.count { entries.append(old.entry(position)) }
            entries.insert(entry, at: index)
            let total = entries.reduce(0) { $0 + $1.count + 2 }
            var middle = 0
            var running = 0
            while middle < entries.count - 1 && running + entries[middle].count + 2 <= total / 2 {
                running += entries[middle].count + 2
                middle += 1
            }
            let isLeaf = old.isLeaf
            // Leaves: the right half starts at `middle`. Internal nodes: entry `middle` moves up.
            middle = max(1, min(middle, entries.count - (isLeaf ? 1 : 2)))
            let (rightId, rightBytes) = chunks.reserve()
            let rightEditor = NodeEditor(rightBytes, chunkSize: chunkSize)
            let separator: [UInt8]
            if isLeaf {
                rightEditor.build(.leaf, link: old.link, entries: entries[middle...])
                editor.build(.leaf, link: rightId, entries: entries[..<middle])
                let firstRight = entries[middle]
                let keyLength = Int(UInt16(littleEndian: firstRight.loadUnaligned(as: UInt16.self)))
                separator = internalEntry(
                    UnsafeRawBufferPointer(rebasing: firstRight[NodeLayout.leafEntryHeader..<(NodeLayout.leafEntryHeader + keyLength)]),
                    child: rightId)
            } else {
                let promoted = entries[middle]
                let promotedChild = UInt32(littleEndian: promoted.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
                rightEditor.build(.internal, link: promotedChild, entries: entries[(middle + 1)...])
                editor.build(.internal, link: old.link, entries: entries[..<middle])
                var promotedEntry = [UInt8](promoted)
                promotedEntry.withUnsafeMutableBytes { $0.storeBytes(of: rightId.littleEndian, toByteOffset: 2, as: UInt32.self) }
                separator = promotedEntry
            }
            return (separator, rightId)
        }
    }

    private func internalEntry(_ key: UnsafeRawBufferPointer, child: UInt32) -> [UInt8] {
        var entry: [UInt8] = []
        entry.reserveCapacity(NodeLayout.internalEntryHeader + key.count)
        entry.appendFixed16(UInt16(key.count))
        entry.appendFixed32(child)
        entry.append(contentsOf: key)
        return entry
    }

    // MARK: Delete

    /// Removes `key`. Returns whether it was present.
    @discardableResult
    func delete(_ key: UnsafeRawBufferPointer) throws(StoreError) -> Bool {
        guard chunks.root != 0 else { return false }
        let leafId = try findLeaf(key, record: true)
        let leaf = NodeView(try chunks.read(leafId), chunkSize: chunkSize)
        let (index, found) = leaf.lowerBound(key)
        guard found else { return false }
        let stored = leaf.value(index)
        let overflow = stored.overflow ? leaf.overflowChunk(index) : 0
        NodeEditor(try chunks.modify(leafId), chunkSize: chunkSize).remove(at: index)
        if overflow != 0 { try freeOverflow(overflow) }
        var counters = chunks.counters
        counters.0 -= 1
        counters.1 -= UInt64(key.count + stored.length)
        chunks.counters = counters
        try rebalance(from: leafId)
        return true
    }

    /// After a removal from `virtual`: while the node is less than a quarter full, merge it with
    /// an adjacent sibling when both fit in one chunk (the left one absorbs the right one, so
    /// leaf links stay right), then shrink the root while it has a single child.
    private func rebalance(from virtual: UInt32) throws(StoreError) {
        var child = virtual
        var level = pathNodes.count - 1
        while level >= 0 {
            let childView = NodeView(try chunks.read(child), chunkSize: chunkSize)
            if childView.count > 0 && childView.usedBytes >= chunkSize / 4 { break }
            let parentId = pathNodes[level]
            let parent = NodeView(try chunks.read(parentId), chunkSize: chunkSize)
            guard parent.count > 0 else { break }
            let position = pathIndexes[level]
            let leftIndex = position > 0 ? position - 1 : 0
            let leftId = parent.child(leftIndex)
            let rightId = parent.child(leftIndex + 1)
            let separatorKey = [UInt8](parent.key(leftIndex))
            let leftUsed = NodeView(try chunks.read(leftId), chunkSize: chunkSize).usedBytes
            let rightView = NodeView(try chunks.read(rightId), chunkSize: chunkSize)
            let isLeaf = rightView.isLeaf
            let separatorCost = isLeaf ? 0 : NodeLayout.internalEntryHeader + separatorKey.count + 2
            guard leftUsed + rightView.usedBytes - NodeLayout.headerSize + separatorCost <= chunkSize else { break }
            let left = NodeEditor(try chunks.modify(leftId), chunkSize: chunkSize)
            let right = NodeView(UnsafeRawPointer(try chunks.modify(rightId)), chunkSize: chunkSize)
            scratch.copyMemory(from: left.base, byteCount: chunkSize)
            let oldLeft = NodeView(UnsafeRawPointer(scratch), chunkSize: chunkSize)
            var entries: [UnsafeRawBufferPointer] = []
            entries.reserveCapacity(oldLeft.count + right.count + 1)
            for position in 0..<oldLeft.count { entries.append(oldLeft.entry(position)) }
            let pulledDown = isLeaf ? [] : separatorKey.withUnsafeBytes { internalEntry($0, child: right.link) }
            pulledDown.withUnsafeBytes { pulled in
                if !isLeaf { entries.append(pulled) }
                for position in 0..<right.count { entries.append(right.entry(position)) }
                left.build(isLeaf ? .leaf : .internal, link: isLeaf ? right.link : oldLeft.link, entries: entries[...])
            }
            chunks.free(rightId)
            NodeEditor(try chunks.modify(parentId), chunkSize: chunkSize).remove(at: leftIndex)
            child = parentId
            level -= 1
        }
        // Shrink the root.
        while chunks.root != 0 {
            let root = NodeView(try chunks.read(chunks.root), chunkSize: chunkSize)
            guard root.count == 0 else { break }
            let old = chunks.root
            chunks.root = root.isLeaf ? 0 : root.link
            chunks.free(old)
        }
    }

    // MARK: Overflow values

    private var overflowPayload: Int { NodeLayout.overflowPayload(chunkSize) }

    /// Writes `value` to a chain of new overflow chunks; returns the first one's id.
    private func writeOverflow(_ value: UnsafeRawBufferPointer) -> UInt32 {
        var first: UInt32 = 0
        var previous: UnsafeMutableRawPointer?
        var offset = 0
        repeat {
            let (virtual, bytes) = chunks.reserve()
            let length = min(overflowPayload, value.count - offset)
            bytes.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 4, as: UInt32.self)
            if length > 0 {
                (bytes + NodeLayout.overflowHeader).copyMemory(from: value.baseAddress! + offset, byteCount: length)
            }
            if let previous { previous.storeBytes(of: virtual.littleEndian, as: UInt32.self) } else { first = virtual }
            previous = bytes
            offset += length
        } while offset < value.count
        return first
    }

    private func freeOverflow(_ first: UInt32) throws(StoreError) {
        var virtual = first
        var steps = 0
        while virtual != 0 {
            let next = UInt32(littleEndian: try chunks.read(virtual).loadUnaligned(as: UInt32.self))
            chunks.free(virtual)
            virtual = next
            steps += 1
            guard steps <= StoreLimits.maxValueSize / max(1, overflowPayload) + 1 else {
                throw corrupt(first, "overflow chain longer than any value")
            }
        }
    }
}
