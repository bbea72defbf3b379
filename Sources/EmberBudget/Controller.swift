/// Energy token bucket: fills at the average power cap, holds at most one
/// window's worth, and is drawn down by the energy each inference uses.
public struct EnergyBucket: Sendable, Equatable {
    public let refillMilliwatts: Double
    public let capacityMillijoules: Double
    public private(set) var tokensMillijoules: Double
    private var lastNanoseconds: UInt64

    public init(powerMilliwatts: Double, windowSeconds: Double, nowNanoseconds: UInt64) {
        refillMilliwatts = max(0, powerMilliwatts)
        capacityMillijoules = refillMilliwatts * max(windowSeconds, 0.001)
        tokensMillijoules = capacityMillijoules
        lastNanoseconds = nowNanoseconds
    }

    public mutating func refill(nowNanoseconds: UInt64) {
        guard nowNanoseconds > lastNanoseconds else { return }
        let seconds = Double(nowNanoseconds - lastNanoseconds) / 1e9
        tokensMillijoules = min(capacityMillijoules, tokensMillijoules + refillMilliwatts * seconds)
        lastNanoseconds = nowNanoseconds
    }

    /// Takes `millijoules` if the bucket holds them.
    public mutating func take(_ millijoules: Double) -> Bool {
        guard millijoules <= tokensMillijoules else { return false }
        tokensMillijoules -= millijoules
        return true
    }

    /// Takes `millijoules` even if that drives the bucket negative (critical requests).
    public mutating func force(_ millijoules: Double) { tokensMillijoules -= millijoules }

    /// Milliseconds until `millijoules` are available.
    public func waitMs(for millijoules: Double) -> Double {
        guard millijoules > tokensMillijoules else { return 0 }
        guard refillMilliwatts > 0 else { return .infinity }
        return (millijoules - tokensMillijoules) / refillMilliwatts * 1000
    }
}

/// PI controller on the temperature margin with a sustainable-power feed-forward,
/// as Linux's power_allocator thermal governor (drivers/thermal/gov_power_allocator.c):
/// allowed = sustainable + kP·(limit − temp) + kI·∑(limit − temp)·dt, the integral
/// clamped (anti-windup) and updated only while the margin is small, output ≥ 0.
public struct ThermalController: Sendable, Equatable {
    public var sustainableMilliwatts: Double
    public var proportionalMwPerDegree: Double
    public var integralMwPerDegreeSecond: Double
    public var integralLimitMilliwatts: Double
    public private(set) var integralMilliwatts: Double = 0

    public init(sustainableMilliwatts: Double, proportionalMwPerDegree: Double,
                integralMwPerDegreeSecond: Double, integralLimitMilliwatts: Double? = nil) {
        self.sustainableMilliwatts = sustainableMilliwatts
        self.proportionalMwPerDegree = proportionalMwPerDegree
        self.integralMwPerDegreeSecond = integralMwPerDegreeSecond
        self.integralLimitMilliwatts = integralLimitMilliwatts ?? sustainableMilliwatts
    }

    /// Power allowed now for `celsius` against `limitCelsius`, after `dtSeconds`.
    public mutating func allowedMilliwatts(celsius: Double, limitCelsius: Double, dtSeconds: Double) -> Double {
        let error = limitCelsius - celsius
        // Like power_allocator: integrate only near the target, so a cold start
        // does not wind the integral up.
        if abs(error) < 10 {
            integralMilliwatts += integralMwPerDegreeSecond * error * max(dtSeconds, 0)
            integralMilliwatts = min(max(integralMilliwatts, -integralLimitMilliwatts), integralLimitMilliwatts)
        }
        return max(0, sustainableMilliwatts + proportionalMwPerDegree * error + integralMilliwatts)
    }
}
