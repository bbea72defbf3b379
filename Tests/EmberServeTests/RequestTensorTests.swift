import Testing
import Ember
@testable import EmberServe

/// KServe inputs of the integer types: every value must be exactly representable in the slot's type.
@Suite struct RequestTensorTests {
    /// The input slot of a one-input graph of `dtype` (the input reshaped to the output).
    func slot(_ dtype: DType) throws -> TensorSlot {
        let b = GraphBuilder(name: "ints")
        let x = b.input("x", dtype, [2])
        b.output(try b.add(.reshape([2]), [x], name: "y"), name: "y")
        return try #require(try Executor(graph: try b.build()).inputs.first)
    }

    func tensor(_ dtype: DType, _ data: String) throws -> Tensor {
        let text = "{\"name\": \"x\", \"datatype\": \"\(Datatype.name(dtype))\", \"shape\": [2], \"data\": \(data)}"
        var binary = BinaryCursor(bytes: [])
        return try Service(models: []).tensor(try JSON.parse(Array(text.utf8)), slot: try slot(dtype), binary: &binary)
    }

    /// 2^63 and 2^64 are where Double(Int64.max) and Double(UInt64.max) round to: a range check against
    /// those lets them through to a trapping conversion. They must be 400s.
    @Test func integersOutsideTheTypeAre400sNotTraps() throws {
        for (dtype, data) in [(DType.i64, "[1, 9223372036854775808]"), (.u64, "[1, 18446744073709551616]"), (.u64, "[-1, 2]"),
                              (.u32, "[4294967296, 0]"), (.i16, "[32768, 0]"), (.u16, "[1.5, 2]")] {
            #expect(throws: RequestError.self, "\(dtype) \(data)") { _ = try tensor(dtype, data) }
        }
        let t = try tensor(.u64, "[9007199254740992, 65535]")
        #expect(t.dtype == .u64 && t.bytes == [0, 0, 0, 0, 0, 0, 0x20, 0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        let s = try tensor(.i16, "[-32768, 32767]")
        #expect(s.bytes == [0x00, 0x80, 0xFF, 0x7F])
    }
}
