/// Energy token bucket: fills at the average power cap, holds at most one
/// window's worth, and is drawn down by the energy each inference uses.
public struct EnergyBucket: Sendable, Equatable {
    public let refillMilliwatts: Double
    public let capacityMillijoules: Double
    public private(set) var tokensMillijoules: Double
    private var lastNanoseconds: UInt64

    public init(powerMilliwatts: Double, windowSeconds: Double, nowNanoseconds: UInt64) {
        self.init(refillMilliwatts: powerMilliwatts, capacityMillijoules: max(0, powerMilliwatts) * max(windowSeconds, 0.001), nowNanoseconds: nowNanoseconds)
    }

    public init(refillMilliwatts: Double, capacityMillijoules: Double, nowNanoseconds: UInt64) {
        self.refillMilliwatts = max(0, refillMilliwatts)
        self.capacityMillijoules = max(0, capacityMillijoules)
        tokensMillijoules = self.capacityMillijoules
        lastNanoseconds = nowNanoseconds
    }

    /// A bucket that can never let more than `millijoules` through in any
    /// `seconds`-long window: what it holds plus what refills during the window
    /// add up to the cap. `burst` is the share held up front (at least
    /// `minimumBurstMillijoules`, so one expensive inference fits, but at most half).
    public static func capped(_ millijoules: Double, perSeconds seconds: Double, burst: Double,
                              minimumBurstMillijoules: Double, nowNanoseconds: UInt64) -> EnergyBucket {
        let total = max(0, millijoules)
        let capacity = min(max(burst * total, minimumBurstMillijoules), 0.5 * total)
        return EnergyBucket(refillMilliwatts: (total - capacity) / max(seconds, 0.001), capacityMillijoules: capacity, nowNanoseconds: nowNanoseconds)
    }

    /// Returns (or charges) the difference between predicted and measured energy.
    public mutating func adjust(by millijoules: Double) {
        tokensMillijoules = min(capacityMillijoules, tokensMillijoules + millijoules)
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

extension ThermalController {
    /// Gains in the spirit of power_allocator's defaults: the proportional term
    /// adds the whole sustainable power over a 10 °C margin, and the integral
    /// can move it by as much again within about one thermal time constant.
    public static func tuned(sustainableMilliwatts: Double, timeConstantSeconds: Double) -> ThermalController {
        let s = max(sustainableMilliwatts, 1)
        return ThermalController(sustainableMilliwatts: s, proportionalMwPerDegree: s / 10,
                                 integralMwPerDegreeSecond: s / (10 * max(timeConstantSeconds, 1)))
    }
}

/// Energy spent over the last `windowSeconds`, in fixed slots (a ring, sized
/// once): admission asks whether one more inference keeps the window's average
/// power within what is allowed. Unlike a token bucket, which lets a full
/// bucket plus a window of refill through (twice the cap), this holds every
/// window — sliding by one slot — to the cap, and still lets a burst use the
/// whole window's energy.
public struct PowerWindow: Sendable, Equatable {
    public let windowSeconds: Double
    public let slotNanoseconds: UInt64
    private var slots: [Double]
    /// Index of the slot that `currentSlotStart` begins.
    private var head = 0
    private var currentSlotStart: UInt64

    public init(windowSeconds: Double, slots count: Int = 50, nowNanoseconds: UInt64) {
        self.windowSeconds = max(windowSeconds, 0.001)
        let n = max(count, 1)
        slotNanoseconds = max(1, UInt64(self.windowSeconds * 1e9 / Double(n)))
        slots = Array(repeating: 0, count: n)
        currentSlotStart = nowNanoseconds
    }

    /// Moves the ring forward to `now`, forgetting slots that left the window.
    public mutating func advance(to now: UInt64) {
        guard now >= currentSlotStart &+ slotNanoseconds else { return }
        let steps = (now - currentSlotStart) / slotNanoseconds
        if steps >= UInt64(slots.count) {
            for i in slots.indices { slots[i] = 0 }
        } else {
            for _ in 0..<steps { head = (head + 1) % slots.count; slots[head] = 0 }
        }
        currentSlotStart &+= steps &* slotNanoseconds
    }

    /// Energy charged within the window.
    public var spentMillijoules: Double { slots.reduce(0, +) }

    public mutating func charge(_ millijoules: Double) { slots[head] += millijoules }

    /// Milliseconds until enough of the window's energy has aged out for `millijoules` more.
    public func waitMs(for millijoules: Double, allowedMilliwatts: Double, now: UInt64) -> Double {
        let budget = allowedMilliwatts * windowSeconds
        guard millijoules <= budget else { return .infinity }
        var excess = spentMillijoules + millijoules - budget
        guard excess > 0 else { return 0 }
        let intoSlot = Double(now &- currentSlotStart)
        // Oldest slot first: it leaves the window when the head slot ends.
        for k in 1...slots.count {
            excess -= slots[(head + k) % slots.count]
            if excess <= 0 { return (Double(k) * Double(slotNanoseconds) - intoSlot) / 1e6 }
        }
        return windowSeconds * 1000
    }
}
