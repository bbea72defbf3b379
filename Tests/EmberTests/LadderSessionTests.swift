import Testing
import Ember

/// Two rungs with very different cost: "big" (four 256×256 layers) and "small" (one 256×4).
func twoRungPackage() throws -> EmberPackage {
    var rng = SplitMix64(seed: 9)
    func graph(layers: Int, width: Int) throws -> Graph {
        let b = GraphBuilder(name: "rung\(layers)")
        var x = b.input("x", .f32, [1, 256])
        for l in 0..<layers {
            let w = b.constant("w\(l)", rng.floats(width * 256, scale: 0.05), dims: [width, 256])
            x = try b.add(.fullyConnected(.relu), [x, w, nil], name: "fc\(l)")
            if width != 256 { break }
        }
        let head = b.constant("head", rng.floats(4 * (width == 256 ? 256 : width), scale: 0.1), dims: [4, width == 256 ? 256 : width])
        b.output(try b.add(.fullyConnected(.none), [x, head, nil], name: "y_fc"), name: "y")
        return try b.build()
    }
    return EmberPackage(contents: PackageContents(metadata: PackageMetadata(), variants: [VariantRecord(name: "big"), VariantRecord(name: "small")],
                                                  graphs: [try graph(layers: 4, width: 256), try graph(layers: 1, width: 4)]))
}

func sysfsFixture(_ name: String) -> SysfsRoot {
    var parts = #filePath.split(separator: "/").map(String.init)
    parts.removeLast(2)
    return SysfsRoot("/" + parts.joined(separator: "/") + "/Fixtures/sysfs/" + name)
}

@Suite struct LadderSessionTests {
    let feeds = ["x": Tensor([Float](repeating: 0.5, count: 256), dims: [1, 256])]

    @Test func coolDeviceGetsTheBestRungAndADecision() throws {
        var env = Envelope(powerMilliwatts: 5000, tempLimitCelsius: 80)
        env.deadlineMs = [.critical: 1000, .normal: 1000, .bestEffort: 1000]
        let ladder = try LadderSession(package: try twoRungPackage(), envelope: env, telemetry: Telemetry(root: sysfsFixture("rpi4")))
        let (out, d) = try ladder.run(feeds, priority: .normal)
        #expect(d.rungName == "big" && !d.throttled)
        #expect(out["y"]?.dims == [1, 4])
        #expect(d.reason.hasPrefix("best rung"))
    }

    @Test func hotDeviceIsThrottledToTheCheapestRung() throws {
        // The fake Raspberry Pi 5 reads 61.25 °C; the limit is 60 °C.
        var env = Envelope(powerMilliwatts: 5000, tempLimitCelsius: 60)
        env.deadlineMs = [.critical: 1000, .normal: 1000, .bestEffort: 1000]
        let ladder = try LadderSession(package: try twoRungPackage(), envelope: env, telemetry: Telemetry(root: sysfsFixture("rpi5")))
        let (_, d) = try ladder.run(feeds, priority: .normal)
        #expect(d.throttled && d.rungName == "small")
    }

    @Test func spentEnergyShedsBestEffortButNotCritical() throws {
        var env = Envelope(powerMilliwatts: 1, tempLimitCelsius: 80) // 1 mW over 1 ms: 1 µJ, nothing fits
        env.powerWindowSeconds = 0.001
        env.deadlineMs = [.critical: 1000, .normal: 1000, .bestEffort: 1000]
        let ladder = try LadderSession(package: try twoRungPackage(), envelope: env, telemetry: nil, activeMilliwatts: 5000)
        #expect(throws: EmberError.self) { try ladder.run(feeds, priority: .bestEffort) }
        let (_, d) = try ladder.run(feeds, priority: .critical)
        #expect(d.rungName == "small" && d.reason.contains("critical"))
    }
}
