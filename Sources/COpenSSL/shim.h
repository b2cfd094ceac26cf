#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <string.h>

/*
 * Small static inline helpers for AOCore (the only importer of this module).
 *
 * - SHA-2: OpenSSL 3.0's one-shot SHA256()/SHA384() go through EVP_Q_digest, which fetches the algorithm on every
 *   call (about a microsecond of lock and lookup). The ANS-104 deep hash makes ~15 small hashes per data item, so
 *   the hot path uses the low-level SHA*_Init/Update/Final, deprecated in 3.0 but present and fast.
 * - RSA: the OSSL_PARAM builder and EVP_PKEY_Q_keygen are variadic or macro-heavy, so the few calls AOCore needs are
 *   wrapped here. No RSA arithmetic is written here: everything is OpenSSL's EVP API.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static inline void aonode_sha384(const void *d, size_t n, unsigned char *out) {
    SHA512_CTX c; SHA384_Init(&c); SHA384_Update(&c, d, n); SHA384_Final(out, &c);
}

/* SHA-384 of the concatenation a || b. */
static inline void aonode_sha384_2(const void *a, size_t an, const void *b, size_t bn, unsigned char *out) {
    SHA512_CTX c; SHA384_Init(&c); SHA384_Update(&c, a, an); SHA384_Update(&c, b, bn); SHA384_Final(out, &c);
}

static inline void aonode_sha256(const void *d, size_t n, unsigned char *out) {
    SHA256_CTX c; SHA256_Init(&c); SHA256_Update(&c, d, n); SHA256_Final(out, &c);
}

/* SHA-256 of the concatenation a || b (no copy of a large a). */
static inline void aonode_sha256_2(const void *a, size_t an, const void *b, size_t bn, unsigned char *out) {
    SHA256_CTX c; SHA256_Init(&c); SHA256_Update(&c, a, an); SHA256_Update(&c, b, bn); SHA256_Final(out, &c);
}

#pragma GCC diagnostic pop

/* Builds an RSA public key (e = 65537 unless given) or a full private key from big-endian byte strings.
   Private parts may be NULL for a public key. Returns NULL on failure. The caller frees with EVP_PKEY_free. */
static inline EVP_PKEY *aonode_rsa_key(const unsigned char *n, size_t nlen, const unsigned char *e, size_t elen,
                                       const unsigned char *d, size_t dlen,
                                       const unsigned char *p, size_t plen, const unsigned char *q, size_t qlen,
                                       const unsigned char *dp, size_t dplen, const unsigned char *dq, size_t dqlen,
                                       const unsigned char *qi, size_t qilen) {
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *bn[8] = {0};
    const unsigned char *src[8] = {n, e, d, p, q, dp, dq, qi};
    size_t lens[8] = {nlen, elen, dlen, plen, qlen, dplen, dqlen, qilen};
    const char *names[8] = {OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, OSSL_PKEY_PARAM_RSA_D,
                            OSSL_PKEY_PARAM_RSA_FACTOR1, OSSL_PKEY_PARAM_RSA_FACTOR2,
                            OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2,
                            OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    int private = d != NULL;
    int count = private ? 8 : 2;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld == NULL) return NULL;
    for (int i = 0; i < count; i++) {
        if (src[i] == NULL) goto done;
        bn[i] = BN_bin2bn(src[i], (int)lens[i], NULL);
        if (bn[i] == NULL || !OSSL_PARAM_BLD_push_BN(bld, names[i], bn[i])) goto done;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (params == NULL) goto done;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0) goto done;
    if (EVP_PKEY_fromdata(ctx, &pkey, private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0) pkey = NULL;
done:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    for (int i = 0; i < 8; i++) BN_free(bn[i]);
    return pkey;
}

/* RSA-PSS with SHA-256 and MGF1-SHA-256 over msg (hashed with SHA-256 inside). saltlen: a length, or
   RSA_PSS_SALTLEN_AUTO (-2) on verify. Returns 1 when the signature verifies, 0 otherwise. */
static inline int aonode_rsa_pss_verify(EVP_PKEY *key, const unsigned char *msg, size_t mlen,
                                        const unsigned char *sig, size_t slen, int saltlen) {
    int ok = 0;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL) return 0;
    if (EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL, key) <= 0) goto done;
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0) goto done;
    if (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) <= 0) goto done;
    if (EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0) goto done;
    ok = EVP_DigestVerify(md, sig, slen, msg, mlen) == 1;
done:
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

/* RSA-PSS sign (SHA-256, MGF1-SHA-256) with the given salt length. Writes at most *siglen bytes; returns 1 on success. */
static inline int aonode_rsa_pss_sign(EVP_PKEY *key, const unsigned char *msg, size_t mlen,
                                      unsigned char *sig, size_t *siglen, int saltlen) {
    int ok = 0;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL) return 0;
    if (EVP_DigestSignInit(md, &pctx, EVP_sha256(), NULL, key) <= 0) goto done;
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0) goto done;
    if (EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, saltlen) <= 0) goto done;
    if (EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0) goto done;
    ok = EVP_DigestSign(md, sig, siglen, msg, mlen) == 1;
done:
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return ok;
}

/* A fresh RSA key of `bits` with e = 65537. NULL on failure. */
static inline EVP_PKEY *aonode_rsa_generate(unsigned int bits) {
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (ctx == NULL) return NULL;
    if (EVP_PKEY_keygen_init(ctx) <= 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits) <= 0 ||
        EVP_PKEY_generate(ctx, &pkey) <= 0) pkey = NULL;
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

/* Exports one big-number parameter of a key (e.g. OSSL_PKEY_PARAM_RSA_N) as big-endian bytes, left-padded to
   `padto` when it is non-zero. Returns the number of bytes written, or -1 (buffer too small, missing parameter). */
static inline int aonode_pkey_get_bn(const EVP_PKEY *key, const char *name, unsigned char *out, int outcap, int padto) {
    BIGNUM *bn = NULL;
    int len = -1;
    if (EVP_PKEY_get_bn_param(key, name, &bn) <= 0 || bn == NULL) return -1;
    int need = BN_num_bytes(bn);
    if (padto > 0) { if (need <= padto && padto <= outcap) len = BN_bn2binpad(bn, out, padto); }
    else if (need <= outcap) len = BN_bn2bin(bn, out);
    BN_clear_free(bn);
    return len;
}

static inline const char *aonode_param_rsa_n(void) { return OSSL_PKEY_PARAM_RSA_N; }
static inline const char *aonode_param_rsa_e(void) { return OSSL_PKEY_PARAM_RSA_E; }
static inline const char *aonode_param_rsa_d(void) { return OSSL_PKEY_PARAM_RSA_D; }
static inline const char *aonode_param_rsa_p(void) { return OSSL_PKEY_PARAM_RSA_FACTOR1; }
static inline const char *aonode_param_rsa_q(void) { return OSSL_PKEY_PARAM_RSA_FACTOR2; }
static inline const char *aonode_param_rsa_dp(void) { return OSSL_PKEY_PARAM_RSA_EXPONENT1; }
static inline const char *aonode_param_rsa_dq(void) { return OSSL_PKEY_PARAM_RSA_EXPONENT2; }
static inline const char *aonode_param_rsa_qi(void) { return OSSL_PKEY_PARAM_RSA_COEFFICIENT1; }
