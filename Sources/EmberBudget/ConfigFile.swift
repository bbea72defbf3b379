import EmberCore

/// The TOML subset Ember's configuration files use (envelopes, device profiles):
/// `key = value` where value is a number, a "string", true/false or a one-line
/// array of strings; `[section]` headers (keys become `section.key`); `#`
/// comments. Anything else is an error naming the file and the line — these
/// files are edited by hand on devices, so every mistake must say where it is.
public struct ConfigFile: Sendable {
    public enum Value: Sendable, Equatable {
        case number(Double)
        case string(String)
        case bool(Bool)
        case strings([String])
    }

    public let file: String
    /// Keys in file order, `section.key` for keys under a section header.
    public private(set) var keys: [String] = []
    private var values: [String: Value] = [:]

    public init(parsing text: String, file: String, sections allowed: Set<String>) throws {
        self.file = file
        var section = ""
        for (n, raw) in textLines(try normalizedText(text, name: file)).enumerated() {
            let line = Self.stripComment(raw).trimmed
            if line.isEmpty { continue }
            let where_ = "line \(n + 1)"
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw EmberError.invalidConfiguration(file: file, key: where_, reason: "unterminated section header") }
                section = String(line.dropFirst().dropLast()).trimmed
                guard allowed.contains(section) else {
                    throw EmberError.invalidConfiguration(file: file, key: "[\(section)]", reason: "unknown section (known: \(allowed.sorted().map { "[\($0)]" }.joined(separator: ", ")))")
                }
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw EmberError.invalidConfiguration(file: file, key: where_, reason: "expected `key = value`, got '\(line.prefix(60))'")
            }
            let name = String(line[..<eq]).trimmed
            let text = String(line[line.index(after: eq)...]).trimmed
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw EmberError.invalidConfiguration(file: file, key: where_, reason: "'\(name.prefix(40))' is not a bare key")
            }
            let key = section.isEmpty ? name : section + "." + name
            guard values[key] == nil else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "given twice") }
            values[key] = try Self.parseValue(text, file: file, key: key)
            keys.append(key)
        }
    }

    /// `#` starts a comment unless it is inside a string.
    private static func stripComment(_ line: Substring) -> String {
        var inString = false
        var out = ""
        for c in line {
            if c == "\"" { inString.toggle() }
            if c == "#" && !inString { break }
            out.append(c)
        }
        return out
    }

    private static func parseValue(_ text: String, file: String, key: String) throws -> Value {
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\""), !text.dropFirst().dropLast().contains("\"") else {
                throw EmberError.invalidConfiguration(file: file, key: key, reason: "unterminated or malformed string \(text.prefix(40))")
            }
            return .string(String(text.dropFirst().dropLast()))
        }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "arrays must close on the same line") }
            let body = String(text.dropFirst().dropLast()).trimmed
            if body.isEmpty { return .strings([]) }
            var items: [String] = []
            for part in body.split(separator: ",", omittingEmptySubsequences: false) {
                let p = String(part).trimmed
                if p.isEmpty { continue }  // trailing comma
                guard case .string(let s) = try parseValue(p, file: file, key: key) else {
                    throw EmberError.invalidConfiguration(file: file, key: key, reason: "arrays may hold only strings, got \(p.prefix(30))")
                }
                items.append(s)
            }
            return .strings(items)
        }
        guard let v = Double(text.replacingUnderscores), v.isFinite else {
            throw EmberError.invalidConfiguration(file: file, key: key, reason: "'\(text.prefix(40))' is not a number, string, boolean or array")
        }
        return .number(v)
    }

    /// Fails on the first key not in `known`, listing the known ones.
    public func rejectUnknown(_ known: Set<String>) throws {
        for key in keys where !known.contains(key) {
            throw EmberError.invalidConfiguration(file: file, key: key, reason: "unknown key (known: \(known.sorted().joined(separator: ", ")))")
        }
    }

    /// A number within `range`; nil when absent and not `required`.
    public func number(_ key: String, in range: ClosedRange<Double>, required: Bool = true) throws -> Double? {
        guard let v = values[key] else {
            if required { throw EmberError.invalidConfiguration(file: file, key: key, reason: "required (a number in \(range.lowerBound)...\(range.upperBound))") }
            return nil
        }
        guard case .number(let x) = v else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "must be a number") }
        guard range.contains(x) else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "\(x) is outside \(range.lowerBound)...\(range.upperBound)") }
        return x
    }

    /// A required number within `range`.
    public func number(_ key: String, in range: ClosedRange<Double>) throws -> Double {
        guard let x = try number(key, in: range, required: true) else { return range.lowerBound }
        return x
    }

    public func string(_ key: String, required: Bool = true) throws -> String? {
        guard let v = values[key] else {
            if required { throw EmberError.invalidConfiguration(file: file, key: key, reason: "required (a \"string\")") }
            return nil
        }
        guard case .string(let s) = v else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "must be a \"string\"") }
        return s
    }

    /// true or false; nil when absent.
    public func bool(_ key: String) throws -> Bool? {
        guard let v = values[key] else { return nil }
        guard case .bool(let b) = v else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "must be true or false") }
        return b
    }

    /// A whole number within `range`; nil when absent.
    public func integer(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let x = try number(key, in: Double(range.lowerBound)...Double(range.upperBound), required: false) else { return nil }
        guard x == x.rounded() else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "\(x) is not a whole number") }
        return Int(x)
    }

    public func strings(_ key: String, allowed: Set<String>) throws -> [String] {
        guard let v = values[key] else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "required (an array of strings)") }
        guard case .strings(let items) = v else { throw EmberError.invalidConfiguration(file: file, key: key, reason: "must be an array of strings") }
        for s in items where !allowed.contains(s) {
            throw EmberError.invalidConfiguration(file: file, key: key, reason: "'\(s)' is not one of \(allowed.sorted().joined(separator: ", "))")
        }
        return items
    }
}

extension String {
    var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
    var replacingUnderscores: String { String(filter { $0 != "_" }) }
}
