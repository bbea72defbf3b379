// swift-tools-version:6.1
// Ember: an inference runtime for Linux edge devices. See ../shared/DESIGN.md (module map).
import PackageDescription

let package = Package(
    name: "Ember",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Ember", targets: ["Ember"]),
        .executable(name: "ember", targets: ["ember"]),
        // libember.so: the C API (Sources/CEmberAPI/include/ember.h).
        .library(name: "EmberC", type: .dynamic, targets: ["EmberC"]),
        // libember.a: the same, static (tools/package.sh).
        .library(name: "EmberCStatic", type: .static, targets: ["EmberC"]),
        .executable(name: "ember-fuzz", targets: ["EmberFuzz"]),
        .executable(name: "emberd", targets: ["emberd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // ONNX protobuf decoding in the importer only (generated code committed: Sources/EmberImport/ONNX).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // Core IR: dtypes, shapes, quantization, graph, op set, errors. No dependencies.
        .target(name: "EmberCore"),
        // C11 micro-kernels with a scalar reference for each; runtime CPU dispatch.
        .target(name: "CEmberKernels"),
        // The system libzstd (apt: libzstd-dev).
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        .target(name: "EmberKernels", dependencies: ["EmberCore", "CEmberKernels"]),
        // Read leases on mapped packages, answered by a private copy (overwrite-safe mapping);
        // the worker pool.
        .target(name: "CEmberSys"),
        // The system libsodium (apt: libsodium-dev): Ed25519 and BLAKE2b for signed packages.
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .target(name: "EmberFormat", dependencies: ["EmberCore", "CZstd", "CEmberSys", "CSodium", "CEmberKernels"]),
        .target(name: "EmberRuntime", dependencies: ["EmberCore", "EmberKernels", "CEmberSys"]),
        .target(name: "Ember", dependencies: ["EmberCore", "EmberFormat", "EmberRuntime", "EmberBudget"]),
        // Power, energy, thermal and memory envelope: telemetry, clocks, controller, scheduler.
        .target(name: "EmberBudget", dependencies: ["EmberCore"]),
        // The C API: ember.h and the thread-local last error (C), the functions themselves (Swift, @_cdecl).
        .target(name: "CEmberAPI"),
        .target(name: "EmberC", dependencies: ["Ember", "CEmberAPI"]),
        // Importers (TFLite, ONNX). Linked into the CLI and packer only.
        .target(
            name: "EmberImport",
            dependencies: ["EmberCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        // The packer's library: calibration, int8 quantization, quality measures.
        .target(name: "EmberPack", dependencies: ["EmberCore", "EmberRuntime"]),
        .executableTarget(
            name: "ember",
            dependencies: [
                "Ember",
                "EmberImport",
                "EmberBudget",
                "EmberPack",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The inference server (Open Inference Protocol v2, /metrics). The runtime only: no importers.
        .target(name: "EmberServe", dependencies: ["Ember"]),
        .executableTarget(
            name: "emberd",
            dependencies: ["Ember", "EmberServe", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Fuzz harnesses for every untrusted-input reader (tools/fuzz.sh); a replay tool otherwise.
        .executableTarget(name: "EmberFuzz", dependencies: ["Ember", "EmberImport"]),

        // Test support: counts heap allocations per thread by interposing malloc.
        .target(name: "CAllocationCounter", path: "Tests/Support/CAllocationCounter"),
        .testTarget(name: "EmberCoreTests", dependencies: ["EmberCore"]),
        .testTarget(name: "EmberKernelsTests", dependencies: ["EmberKernels", "CEmberKernels"]),
        .testTarget(name: "EmberFormatTests", dependencies: ["EmberFormat", "Ember", "CEmberKernels"]),
        .testTarget(name: "EmberRuntimeTests", dependencies: ["EmberRuntime", "EmberKernels", "EmberImport", "Ember", "CAllocationCounter", "CEmberSys"]),
        .testTarget(name: "EmberTests", dependencies: ["Ember", "EmberC", "CEmberAPI", "CAllocationCounter"]),
        .testTarget(name: "EmberBudgetTests", dependencies: ["EmberBudget"]),
        .testTarget(name: "EmberImportTests", dependencies: ["EmberImport", "Ember"]),
        .testTarget(name: "EmberPackTests", dependencies: ["EmberPack", "EmberImport", "Ember"]),
        .testTarget(name: "EmberServeTests", dependencies: ["EmberServe"]),
        .testTarget(name: "EmberCLITests", dependencies: ["Ember", "EmberFormat", "ember", "emberd"]),
    ]
)
