/*
 * test_tflite_malformed -- the reader and the graph builder on damaged model files:
 * truncated at many lengths, bits flipped at random (seeded), offsets and indices
 * pointed outside the file, shapes made inconsistent, an operator code changed to
 * one we do not know.  Every case must end in an error status (or, for a harmless
 * flip, success) -- never a crash, a hang or a leak (run under ASan+UBSan).
 *
 * Damage is aimed with a minimal FlatBuffers walk written here (no bounds checks:
 * it only reads the intact original).
 */
#include "check.h"
#include "engine/graph.h"
#include "engine/tflite.h"

#include <stdint.h>

static uint8_t *orig, *buf;
static size_t n_orig;
static int n_ok, n_format, n_unsupported, n_limit, n_other;

static uint32_t u32(size_t at)
{
    const uint8_t *p = orig + at;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(size_t at, uint32_t v)
{
    buf[at] = (uint8_t)v;
    buf[at + 1] = (uint8_t)(v >> 8);
    buf[at + 2] = (uint8_t)(v >> 16);
    buf[at + 3] = (uint8_t)(v >> 24);
}

/* Position of field `id` of the table at `t`, or 0 when absent. */
static size_t field(size_t t, int id)
{
    size_t vt = t - (size_t)(int32_t)u32(t);
    unsigned vs = orig[vt] | orig[vt + 1] << 8;
    if (4 + 2 * (unsigned)id + 2 > vs)
        return 0;
    unsigned fo = orig[vt + 4 + 2 * id] | orig[vt + 5 + 2 * id] << 8;
    return fo ? t + fo : 0;
}

static size_t deref(size_t pos)
{
    return pos + u32(pos);
}

/* Table `i` of the vector referenced by field `id` of table `t`. */
static size_t vec_table(size_t t, int id, size_t i)
{
    size_t v = deref(field(t, id));
    return deref(v + 4 + 4 * i);
}

/* Parses `n` bytes of buf and builds the graph; tallies the outcome. */
static cr_status try_parse(size_t n)
{
    engine_tflite_model *m = NULL;
    engine_graph *g = NULL;
    cr_err err = {0};
    cr_status st = engine_tflite_model_parse(buf, n, &m, &err);
    if (st == CR_OK) {
        st = engine_graph_from_tflite(m, &g, &err);
        engine_graph_free(g);
        engine_tflite_model_free(m);
    } else {
        CHECK(m == NULL);
    }
    if (st == CR_OK)
        n_ok++;
    else if (st == CR_ERR_FORMAT)
        n_format++;
    else if (st == CR_ERR_UNSUPPORTED)
        n_unsupported++;
    else if (st == CR_ERR_LIMIT)
        n_limit++;
    else
        n_other++;
    CHECK_MSG(st == CR_OK || st == CR_ERR_FORMAT || st == CR_ERR_UNSUPPORTED || st == CR_ERR_LIMIT,
              "status %s: %s", cr_status_str(st), cr_err_msg(&err));
    CHECK_MSG(st == CR_OK || err.msg[0] != '\0', "an error without a message");
    return st;
}

static void restore(void)
{
    memcpy(buf, orig, n_orig);
}

static int load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    fseek(f, 0, SEEK_END);
    n_orig = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    orig = malloc(n_orig);
    buf = malloc(n_orig);
    size_t got = orig && buf ? fread(orig, 1, n_orig, f) : 0;
    fclose(f);
    if (got != n_orig)
        return 0;
    restore();
    return 1;
}

static void truncations(void)
{
    int fails = 0, tries = 0;
    /* Every length up to 256, 300 lengths across the file, the last 256 lengths. */
    for (size_t n = 0; n < n_orig; n = n < 256 ? n + 1 : n + n_orig / 300) {
        tries++;
        fails += try_parse(n) != CR_OK;
    }
    for (size_t n = n_orig - 256; n < n_orig; n++) {
        tries++;
        fails += try_parse(n) != CR_OK;
    }
    printf("  truncations: %d of %d rejected\n", fails, tries);
    CHECK_INT_EQ(fails, tries);
    CHECK_INT_EQ(try_parse(n_orig), CR_OK);
}

/* Structure lies before the first constant and after the last one (see layout()). */
static void flips(size_t data_lo, size_t data_hi)
{
    uint32_t s = 20261126u;
    int before_ok = n_ok, trials = 600;
    for (int i = 0; i < trials; i++) {
        s = s * 1664525u + 1013904223u; /* Numerical Recipes LCG */
        size_t span_lo = data_lo, span_hi = n_orig - data_hi, at;
        uint32_t r = s >> 4;
        /* 45 % head, 45 % tail, 10 % anywhere. */
        if (i % 10 == 9)
            at = r % n_orig;
        else if (i % 2)
            at = r % span_lo;
        else
            at = data_hi + r % span_hi;
        for (int k = 0; k < 1 + (i % 3); k++) { /* 1 to 3 flipped bits near each other */
            size_t p = (at + (size_t)k * 3) % n_orig;
            buf[p] ^= (uint8_t)(1u << ((s >> (8 + k)) & 7));
        }
        try_parse(n_orig);
        restore();
    }
    printf("  bit flips: %d of %d still parse (weights and names)\n", n_ok - before_ok, trials);
}

static void aimed(void)
{
    size_t root = u32(0);
    size_t sg = vec_table(root, 2, 0);
    size_t t0 = vec_table(sg, 0, 0);  /* tensor 0 */
    size_t op0 = vec_table(sg, 3, 0); /* operator 0 */

    put32(0, (uint32_t)n_orig + 100); /* root past the end */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(0, 0xfffffff0u);
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(root, 0x7fffffffu); /* vtable far away */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(field(root, 2), 0xffffff00u); /* subgraphs vector past the end */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(deref(field(root, 2)), 0x40000000u); /* subgraph count beyond the file */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(deref(field(sg, 0)), 0x3fffffffu); /* tensor count beyond the file */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(field(t0, 0), (uint32_t)(n_orig - field(t0, 0) - 2)); /* shape at the last bytes */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(field(t0, 2), 1000000u); /* buffer index out of range */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(deref(field(t0, 3)), 0x7ffffff0u); /* name longer than the file */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(deref(field(op0, 1)) + 4, 99999u); /* operator input index out of range */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(deref(field(op0, 2)) + 4, 0xfffffffeu); /* output index -2 */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(field(op0, 0), 5000u); /* operator code index out of range */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    /* A shape the operator does not make: operator 0's output one row taller. */
    size_t out0 = vec_table(sg, 0, u32(deref(field(op0, 2)) + 4));
    size_t shape = deref(field(out0, 0));
    put32(shape + 8, u32(shape + 8) + 1);
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    put32(shape + 8, 0); /* a zero dimension */
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    /* Operator 0 takes its own output as input: not in dataflow order. */
    put32(deref(field(op0, 1)) + 4, u32(deref(field(op0, 2)) + 4));
    CHECK_INT_EQ(try_parse(n_orig), CR_ERR_FORMAT);
    restore();
    /* Unknown operators: every operator code entry with a 32-bit builtin code gets 150. */
    size_t codes = deref(field(root, 1));
    int changed = 0;
    for (size_t i = 0; i < u32(codes); i++) {
        size_t oc = deref(codes + 4 + 4 * i), f = field(oc, 3);
        if (f == 0 || u32(f) == ENGINE_TFLITE_OP_DEQUANTIZE || u32(f) == ENGINE_TFLITE_OP_DENSIFY)
            continue;
        put32(f, 150u); /* a BuiltinOperator we do not implement */
        CHECK_INT_EQ(try_parse(n_orig), CR_ERR_UNSUPPORTED);
        restore();
        changed++;
    }
    CHECK(changed > 0);
}

static void check_file(const char *path)
{
    if (!load(path)) {
        CHECK_MSG(0, "cannot read %s", path);
        return;
    }
    engine_tflite_model *m;
    size_t lo = n_orig, hi = 0;
    CHECK_INT_EQ(engine_tflite_model_parse(orig, n_orig, &m, NULL), CR_OK);
    for (int i = 0; m && i < m->n_tensors; i++) {
        const engine_tflite_tensor *t = &m->tensors[i];
        if (t->data && (size_t)(t->data - orig) < lo)
            lo = (size_t)(t->data - orig);
        if (t->data && (size_t)(t->data - orig) + t->size > hi)
            hi = (size_t)(t->data - orig) + t->size;
    }
    engine_tflite_model_free(m);
    printf("%s: %zu bytes, constants in [%zu, %zu)\n", path, n_orig, lo, hi);
    truncations();
    flips(lo, hi);
    aimed();
    free(orig);
    free(buf);
}

int main(void)
{
    check_file("models/pose_detection.tflite");
    check_file("models/pose_landmark_lite.tflite");
    printf("outcomes: %d ok, %d format, %d unsupported, %d limit, %d other\n", n_ok, n_format,
           n_unsupported, n_limit, n_other);
    CHECK_INT_EQ(n_other, 0);
    /* Nothing at all. */
    engine_tflite_model *m = (engine_tflite_model *)1;
    CHECK_INT_EQ(engine_tflite_model_parse(NULL, 0, &m, NULL), CR_ERR_FORMAT);
    CHECK(m == NULL);
    return check_exit();
}
