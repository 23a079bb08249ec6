import Engines
import StoreCore
import StoreTestSupport
import Testing

/// Every case of the conformance suite against every registered engine.
@Suite("Conformance")
struct EngineConformanceTests {
    static let engines = EngineRegistry.names + EngineRegistry.variants

    @Test("conformance", arguments: engines, ConformanceSuite.Case.allCases)
    func conformance(engine name: String, testCase: ConformanceSuite.Case) throws {
        let suite = ConformanceSuite(
            engine: try EngineRegistry.engine(named: name),
            secondProcess: { directory in try StorebenchProcess.run(["verify", directory]) })
        let outcome = try suite.run(testCase)
        if case let .notApplicable(reason) = outcome {
            // Only the persistence cases may be skipped, and only for a volatile engine.
            #expect(!suite.engine.isPersistent, "\(name) skipped \(testCase): \(reason)")
        }
    }

    @Test("the randomized model test also holds with durability always", arguments: engines)
    func randomizedModelWithDurabilityAlways(engine name: String) throws {
        let suite = ConformanceSuite(
            engine: try EngineRegistry.engine(named: name),
            options: StoreOptions(durability: .always), modelOperations: 2_000)
        #expect(try suite.run(.randomizedModel) == .passed)
    }
}
