@testable import ChunkStore
import StoreCore
import Testing

@Suite("cow free-chunk list")
struct FreeChunksTests {
    @Test("the lowest free chunk goes first, and a limit keeps chunks past the file's end")
    func lowestFirst() {
        var free = FreeChunks([9, 3, 7, 1])
        #expect(free.takeLowest() == 1 && free.takeLowest() == 3)
        #expect(free.takeLowest(below: 7) == nil, "7 and 9 are at or past the limit")
        #expect(free.count == 2 && free.takeLowest(below: 8) == 7)
    }

    @Test("a released chunk waits until its commit is promoted, in commit order")
    func pendingUntilPromoted() {
        var free = FreeChunks()
        free.release(40, by: 4)
        free.release(20, by: 5)
        free.release(30, by: 6)
        #expect(free.count == 0 && free.pendingCount == 3 && free.highestPending == 40)
        #expect(free.takeLowest() == nil, "nothing is reusable before its commit is durable")
        free.promote(upTo: 5)
        #expect(free.count == 2 && free.pendingCount == 1 && free.highestPending == 30)
        #expect(free.takeLowest() == 20 && free.takeLowest() == 40 && free.takeLowest() == nil)
        free.promote(upTo: 6)
        #expect(free.takeLowest() == 30 && free.pendingCount == 0 && free.highestPending == 0)
    }

    @Test("a truncated file drops the free chunks at or past its new end")
    func truncation() {
        var free = FreeChunks([2, 5, 8, 11])
        free.removeAll(atOrAbove: 8)
        #expect(free.allFree.sorted() == [2, 5])
        #expect(free.takeLowest() == 2 && free.takeLowest() == 5 && free.takeLowest() == nil)
    }

    @Test("random releases, promotions and takes agree with a sorted model")
    func againstModel() {
        var random = SeededRandom(seed: 41)
        var free = FreeChunks()
        var reusable: Set<UInt32> = []
        var waiting: [(UInt32, UInt64)] = []
        var next: UInt32 = 1
        var txid: UInt64 = 1
        for _ in 0..<5_000 {
            switch random.below(3) {
            case 0:
                free.release(next, by: txid)
                waiting.append((next, txid))
                next += 1
                if random.below(3) == 0 { txid += 1 }
            case 1:
                let bound = txid - UInt64(random.below(2))
                free.promote(upTo: bound)
                for (chunk, by) in waiting where by <= bound { reusable.insert(chunk) }
                waiting.removeAll { $0.1 <= bound }
            default:
                let taken = free.takeLowest()
                #expect(taken == reusable.min(), "the lowest reusable chunk")
                if let taken { reusable.remove(taken) }
            }
            #expect(free.count == reusable.count && free.pendingCount == waiting.count)
        }
    }
}
