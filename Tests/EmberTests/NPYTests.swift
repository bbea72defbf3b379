import Testing
import Ember

@Suite struct NPYTests {
    @Test func roundTripsEveryRuntimeDType() throws {
        let cases: [Tensor] = [
            Tensor([1.5, -2, 3], dims: [3]),
            Tensor([Int8](arrayLiteral: -128, 0, 127, 5, 6, 7), dims: [2, 3]),
            Tensor(dtype: .i32, dims: [2], bytes: [1, 0, 0, 0, 255, 255, 255, 255]),
            Tensor(dtype: .u8, dims: [], bytes: [42]),
            Tensor(dtype: .i16, dims: [2], bytes: [0x00, 0x80, 0xFF, 0x7F]),
            Tensor(dtype: .u16, dims: [1], bytes: [0xFF, 0xFF]),
            Tensor(dtype: .u32, dims: [1], bytes: [1, 2, 3, 4]),
            Tensor(dtype: .u64, dims: [1, 1], bytes: [UInt8](repeating: 0xFF, count: 8)),
        ]
        for t in cases {
            let bytes = NPY.encode(t)
            #expect((bytes.count - t.bytes.count) % 64 == 0) // header padded to 64 as numpy does
            #expect(try NPY.decode(bytes, name: "t") == t)
        }
    }

    @Test func readsWhatNumpyWrites() throws {
        // np.save of np.arange(6, dtype=np.float32).reshape(2, 3), byte for byte.
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        header += String(repeating: " ", count: 128 - 10 - header.utf8.count - 1) + "\n"
        let floats: [Float] = [0, 1, 2, 3, 4, 5]
        let bytes = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count), 0] + Array(header.utf8) + floats.withUnsafeBytes { Array($0) }
        let t = try NPY.decode(bytes, name: "x")
        #expect(t.dims == [2, 3] && t.floats == floats)
    }

    @Test func malformedFilesGiveErrorsNotCrashes() throws {
        let good = NPY.encode(Tensor([Float](arrayLiteral: 1, 2, 3, 4), dims: [2, 2]))
        func text(_ b: [UInt8]) -> String {
            do { _ = try NPY.decode(b, name: "x"); return "ok" } catch { return "\(error)" }
        }
        #expect(text([]).contains("magic"))
        #expect(text(Array(good.dropLast(1))).contains("needs 16 data bytes, the file has 15"))
        #expect(text(good.replacingFirst("<f4", "<f8")).contains("'<f8' is not supported"))
        #expect(text(good.replacingFirst("False", "True ")).contains("Fortran"))
        // Every truncation and random byte changes: never a trap.
        for n in 0..<good.count { _ = text(Array(good.prefix(n))) }
        var rng = SplitMix64(seed: 1)
        for _ in 0..<2000 {
            var b = good
            b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
            _ = text(b)
        }
    }
}

extension [UInt8] {
    /// The bytes with the first occurrence of `a` replaced by `b` (same length).
    func replacingFirst(_ a: String, _ b: String) -> [UInt8] {
        let pa = Array(a.utf8), pb = Array(b.utf8)
        var out = self
        for i in 0...(count - pa.count) where Array(self[i..<(i + pa.count)]) == pa {
            out.replaceSubrange(i..<(i + pa.count), with: pb)
            return out
        }
        return out
    }
}
