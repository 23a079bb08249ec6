import Engines
import StoreCore
import StoreTestSupport
import Testing

/// The concurrency contract of `Store` against every engine that is built for concurrent use.
@Suite("Concurrency conformance")
struct ConcurrencyConformanceTests {
    /// Every engine is built for concurrent use.
    static let engines = EngineRegistry.names + EngineRegistry.variants

    @Test("concurrency", arguments: engines, ConcurrencySuite.Case.allCases)
    func concurrency(engine name: String, testCase: ConcurrencySuite.Case) throws {
        let engine = try EngineRegistry.engine(named: name)
        let suite = ConcurrencySuite(engine: engine, options: StoreOptions(durability: .none, settings: engine.stressSettings))
        let outcome = try suite.run(testCase)
        if case let .notApplicable(reason) = outcome {
            #expect(!engine.isPersistent, "\(name) skipped \(testCase): \(reason)")
        }
    }
}
