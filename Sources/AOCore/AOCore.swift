/// AOCore: ids, tags, ANS-104 data items, deep hash, bundles, AO message kinds and limits.
/// Pure: no I/O. Crypto comes from libsodium (ed25519) and OpenSSL (SHA-2, RSA-PSS).
