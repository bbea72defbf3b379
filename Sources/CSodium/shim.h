// The system libsodium (Debian/Ubuntu: libsodium-dev): Ed25519 signatures and BLAKE2b for signed
// packages (Sources/EmberFormat/Signature.swift).
#include <sodium.h>
