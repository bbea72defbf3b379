import EmberCore
/// Writes simulation results as timeline.csv and timeline.svg: temperature,
/// power, Ember's rung, and requests served on time / shed, over time — one
/// picture that shows at a glance whether the box stayed cool and answered.
public enum TimelineReport {
    public static func csv(_ r: SimulationResult) -> String {
        var s = "time_s,celsius,milliwatts,allowed_mw,rung,arrived,on_time,late,shed,frequency\n"
        for x in r.samples {
            s += "\(fmt3(x.timeS)),\(fmt3(x.celsius)),\(fmt3(x.milliwatts)),\(fmt3(x.allowedMilliwatts)),\(x.rung),"
                + "\(x.arrived),\(x.onTime),\(x.late),\(x.shed),\(fmt3(x.frequencyFraction))\n"
        }
        return s
    }

    /// One summary row per policy (Markdown), for the terminal and BENCHMARKS.md.
    public static func table(_ results: [SimulationResult], envelope: Envelope) -> String {
        var s = "| policy | requests | on time | on time within limit | late | shed | critical shed | max °C | s above limit | max window mW | energy J |\n"
        s += "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        for r in results {
            s += "| \(r.policy.rawValue) | \(r.arrived) | \(r.onTime) | \(r.onTimeWithinLimit) | \(r.late) | \(r.shed) | \(r.criticalShed) "
                + "| \(fmt(r.maxCelsius)) | \(fmt(r.secondsAboveLimit)) | \(formatDecimal(r.maxWindowMilliwatts, places: 0)) | \(fmt(r.totalMillijoules / 1000)) |\n"
        }
        return s
    }

    static let colors: [SimulationPolicy: String] = [.ember: "#d9480f", .alwaysBest: "#1c7ed6", .raceThenThrottle: "#868e96"]

    /// Four stacked panels sharing the time axis. `results` should hold the
    /// Ember run first; the rung panel shows the first result's rungs.
    public static func svg(_ results: [SimulationResult], rungNames: [String], envelope: Envelope, title: String) -> String {
        let width = 960.0, panelHeight = 150.0, left = 70.0, right = 150.0, top = 40.0, gap = 30.0
        let plotWidth = width - left - right
        let duration = max(results.map(\.durationS).max() ?? 1, 1)
        let height = top + 4 * (panelHeight + gap) + 10
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="22" font-size="14" font-weight="bold">\(escape(title))</text>

            """
        func x(_ t: Double) -> Double { left + t / duration * plotWidth }

        func panel(_ index: Int, label: String, yMin: Double, yMax: Double, series: [(String, [(Double, Double)], Bool)],
                   limit: (Double, String)?, ticks: [(Double, String)]? = nil) {
            let y0 = top + Double(index) * (panelHeight + gap)
            let span = max(yMax - yMin, 1e-9)
            func y(_ v: Double) -> Double { y0 + panelHeight - (min(max(v, yMin), yMax) - yMin) / span * panelHeight }
            out += "<rect x=\"\(left)\" y=\"\(y0)\" width=\"\(plotWidth)\" height=\"\(panelHeight)\" fill=\"none\" stroke=\"#ccc\"/>\n"
            out += "<text x=\"\(left - 60)\" y=\"\(y0 - 6)\" font-weight=\"bold\">\(escape(label))</text>\n"
            let yTicks = ticks ?? (0...4).map { k in let v = yMin + span * Double(k) / 4; return (v, fmt(v)) }
            for (v, text) in yTicks {
                out += "<line x1=\"\(left - 4)\" x2=\"\(left)\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\" stroke=\"#999\"/>"
                out += "<text x=\"\(left - 6)\" y=\"\(f(y(v) + 4))\" text-anchor=\"end\">\(escape(text))</text>\n"
            }
            if let (v, text) = limit {
                out += "<line x1=\"\(left)\" x2=\"\(left + plotWidth)\" y1=\"\(f(y(v)))\" y2=\"\(f(y(v)))\" stroke=\"#e03131\" stroke-dasharray=\"6 4\"/>"
                out += "<text x=\"\(left + plotWidth + 6)\" y=\"\(f(y(v) + 4))\" fill=\"#e03131\">\(escape(text))</text>\n"
            }
            for (i, (color, points, step)) in series.enumerated() {
                guard !points.isEmpty else { continue }
                var d = ""
                for (k, (t, v)) in points.enumerated() {
                    if k == 0 { d += "M\(f(x(t))),\(f(y(v)))" }
                    else if step { d += "H\(f(x(t)))V\(f(y(v)))" }
                    else { d += "L\(f(x(t))),\(f(y(v)))" }
                }
                out += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(i == 0 ? 2 : 1.3)\"/>\n"
            }
        }

        let temps = results.flatMap { $0.samples.map(\.celsius) }
        let tMin = ((temps.min() ?? 20) / 5).rounded(.down) * 5
        let tMax = max(((temps.max() ?? 80) / 5).rounded(.up) * 5, envelope.tempLimitCelsius + 5)
        panel(0, label: "°C", yMin: tMin, yMax: tMax,
              series: results.map { r in (colors[r.policy] ?? "#000", r.samples.map { ($0.timeS, $0.celsius) }, false) },
              limit: (envelope.tempLimitCelsius, "limit \(fmt(envelope.tempLimitCelsius)) °C"))
        let watts = results.flatMap { $0.samples.map(\.milliwatts) }
        let wMax = max(((watts.max() ?? 1000) / 1000).rounded(.up), (envelope.powerMilliwatts / 1000).rounded(.up) + 1)
        panel(1, label: "W", yMin: 0, yMax: wMax,
              series: results.map { r in (colors[r.policy] ?? "#000", r.samples.map { ($0.timeS, $0.milliwatts / 1000) }, false) },
              limit: (envelope.powerMilliwatts / 1000, "cap \(fmt(envelope.powerMilliwatts / 1000)) W"))
        if let ember = results.first {
            // Rung panel: best rung on top. −1 (nothing served) is drawn at the bottom.
            let n = rungNames.count
            let points = ember.samples.map { ($0.timeS, $0.rung < 0 ? -1.0 : Double(n - 1 - $0.rung)) }
            panel(2, label: "rung", yMin: -1, yMax: Double(max(n - 1, 1)), series: [(colors[ember.policy] ?? "#000", points, true)],
                  limit: nil, ticks: [(-1, "idle")] + rungNames.enumerated().map { (Double(n - 1 - $0.offset), $0.element) })
        }
        let perSecond = results.flatMap { $0.samples.map { Double($0.arrived) } }
        panel(3, label: "on time/s", yMin: 0, yMax: max((perSecond.max() ?? 1).rounded(.up), 1),
              series: results.map { r in (colors[r.policy] ?? "#000", r.samples.map { ($0.timeS, Double($0.onTime)) }, true) }
                  + [("#fab005", (results.first?.samples ?? []).map { ($0.timeS, Double($0.shed)) }, true)],
              limit: nil)
        // Legend and time axis.
        var ly = top + 10
        for r in results {
            out += "<line x1=\"\(left + plotWidth + 10)\" x2=\"\(left + plotWidth + 30)\" y1=\"\(f(ly + 60))\" y2=\"\(f(ly + 60))\" stroke=\"\(colors[r.policy] ?? "#000")\" stroke-width=\"2\"/>"
            out += "<text x=\"\(left + plotWidth + 34)\" y=\"\(f(ly + 64))\">\(r.policy.rawValue)</text>\n"
            ly += 16
        }
        let shedY = top + 3 * (panelHeight + gap) + 20
        out += "<line x1=\"\(left + plotWidth + 10)\" x2=\"\(left + plotWidth + 30)\" y1=\"\(f(shedY))\" y2=\"\(f(shedY))\" stroke=\"#fab005\" stroke-width=\"2\"/>"
        out += "<text x=\"\(left + plotWidth + 34)\" y=\"\(f(shedY + 4))\">ember shed/s</text>\n"
        let axisY = top + 4 * (panelHeight + gap) - gap + 14
        for k in 0...6 {
            let t = duration * Double(k) / 6
            out += "<text x=\"\(f(x(t)))\" y=\"\(f(axisY))\" text-anchor=\"middle\">\(fmt(t)) s</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    private static func f(_ v: Double) -> String { fmt(v) }

    private static func escape(_ s: String) -> String {
        var o = ""
        for c in s {
            switch c {
            case "&": o += "&amp;"
            case "<": o += "&lt;"
            case ">": o += "&gt;"
            case "\"": o += "&quot;"
            default: o.append(c)
            }
        }
        return o
    }
}
