import StoreCore

extension ChunkTree {
    struct VerifyReport {
        var leaves = 0
        var internalNodes = 0
        var overflowChunks = 0
        var depth = 0
        var keys = 0
        var liveBytes = 0
    }

    /// Walks the whole tree: key order within and across nodes, separators bounding their
    /// subtrees, equal leaf depth, leaf links in key order, overflow chains of the right length,
    /// counts matching the meta, and every mapped chunk reachable exactly once.
    func verify() throws -> VerifyReport {
        var report = VerifyReport()
        var reached = Set<UInt32>()
        var leafOrder: [UInt32] = []
        var leafDepth: Int?
        var value: [UInt8] = []

        func claim(_ virtual: UInt32) throws(StoreError) {
            guard reached.insert(virtual).inserted else { throw corrupt(virtual, "chunk reached twice from the tree") }
        }

        // Iterative depth-first walk: (node, depth, lower bound, upper bound).
        var stack: [(UInt32, Int, [UInt8]?, [UInt8]?)] = []
        if chunks.root != 0 { stack.append((chunks.root, 1, nil, nil)) }
        while let (virtual, depth, low, high) = stack.popLast() {
            try claim(virtual)
            let page = [UInt8](UnsafeRawBufferPointer(start: try chunks.read(virtual), count: chunkSize))
            try page.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                let node = NodeView(raw.baseAddress!, chunkSize: chunkSize)
                guard node.isLeaf || node.kindByte == NodeKind.internal.rawValue else {
                    throw corrupt(virtual, "not a tree node (kind \(node.kindByte))")
                }
                guard node.heapStart >= NodeLayout.headerSize + 2 * node.count, node.heapStart <= chunkSize else {
                    throw corrupt(virtual, "slot array and heap overlap")
                }
                for index in 0..<node.count {
                    let offset = node.offset(index)
                    guard offset >= node.heapStart, offset + node.entrySize(index) <= chunkSize else {
                        throw corrupt(virtual, "entry \(index) lies outside the heap")
                    }
                    let key = node.key(index)
                    if index > 0, KeyOrder.compare(node.key(index - 1), key) >= 0 {
                        throw corrupt(virtual, "keys out of order at entry \(index)")
                    }
                    if let low, KeyOrder.compare(low, key) > 0 { throw corrupt(virtual, "key below its separator") }
                    if let high, KeyOrder.compare(high, key) <= 0 { throw corrupt(virtual, "key at or above the next separator") }
                }
                if node.isLeaf {
                    if let leafDepth, leafDepth != depth { throw corrupt(virtual, "leaf at depth \(depth), others at \(leafDepth)") }
                    leafDepth = depth
                    report.leaves += 1
                    leafOrder.append(virtual)
                    for index in 0..<node.count {
                        let stored = node.value(index)
                        report.keys += 1
                        report.liveBytes += node.key(index).count + stored.length
                        guard stored.overflow else { continue }
                        var chunk = node.overflowChunk(index)
                        try chunks.readOverflow(chunk, length: stored.length, into: &value)
                        while chunk != 0 {
                            try claim(chunk)
                            report.overflowChunks += 1
                            chunk = UInt32(littleEndian: try chunks.read(chunk).loadUnaligned(as: UInt32.self))
                        }
                    }
                } else {
                    report.internalNodes += 1
                    report.depth = max(report.depth, depth)
                    // Push right to left so leaves are visited in key order.
                    for index in stride(from: node.count, through: 0, by: -1) {
                        let childLow = index == 0 ? low : [UInt8](node.key(index - 1))
                        let childHigh = index == node.count ? high : [UInt8](node.key(index))
                        stack.append((node.child(index), depth + 1, childLow, childHigh))
                    }
                }
            }
        }
        report.depth = leafDepth ?? 0
        for (position, leaf) in leafOrder.enumerated() {
            let next = NodeView(try chunks.read(leaf), chunkSize: chunkSize).link
            let expected = position + 1 < leafOrder.count ? leafOrder[position + 1] : 0
            guard next == expected else { throw corrupt(leaf, "leaf links to \(next), the next leaf in key order is \(expected)") }
        }
        guard report.keys == keyCount, report.liveBytes == liveBytes else {
            throw StoreError.corrupted(file: chunks.file.path, offset: Int64(chunks.meta.txid % 2) * Int64(chunkSize),
                             reason: "meta counts \(keyCount) keys / \(liveBytes) bytes, the tree holds \(report.keys) / \(report.liveBytes)")
        }
        guard reached.count == chunks.mappedVirtualCount else {
            throw StoreError.corrupted(file: chunks.file.path, offset: -1,
                             reason: "\(chunks.mappedVirtualCount - reached.count) mapped chunks are not reachable from the tree (leaked)")
        }
        return report
    }
}
