import ResultsSchema
import Testing

@Suite("Sample statistics")
struct SampleStatisticsTests {
    @Test("the median is the middle value, or the mean of the middle two")
    func median() {
        #expect(SampleStatistics.median([3, 1, 2]) == 2)
        #expect(SampleStatistics.median([4, 1, 3, 2]) == 2.5)
        #expect(SampleStatistics.median([]) == 0)
    }

    @Test("percentiles by nearest rank: the smallest value with that share at or below it")
    func percentiles() {
        let hundred = (1...100).map(Double.init)
        #expect(SampleStatistics.percentile(sorted: hundred, 0.99) == 99)
        #expect(SampleStatistics.percentile(sorted: hundred, 0.5) == 50)
        #expect(SampleStatistics.percentile(sorted: hundred, 1) == 100)
        #expect(SampleStatistics.percentile(sorted: [7], 0.999) == 7)
        #expect(SampleStatistics.percentile(sorted: [1, 2], 0.5) == 1)
        #expect(SampleStatistics.percentile(sorted: [], 0.5) == 0)
    }
}
