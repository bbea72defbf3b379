// EmberCore — the vocabulary every other Ember target shares: element types
// (`DType`), shapes with bounded symbolic dims (`Shape`), quantization
// parameters, the graph IR (`Graph`, `Node`, `Value`), the closed `Op` set with
// shape and cost functions, the graph validator, `GraphBuilder`, and `EmberError`.
//
// No Foundation; no allocation in anything a hot path calls.
