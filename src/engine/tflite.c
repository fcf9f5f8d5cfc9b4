/*
 * tflite.c -- the bounds-checked FlatBuffers walk over a .tflite file.
 *
 * FlatBuffers layout (flatbuffers.dev, "FlatBuffers internals"), all little-endian:
 *   root:   u32 at byte 0 = offset of the root table (Model); bytes 4..8 may hold
 *           the file identifier "TFL3".
 *   table:  at T, i32 s; its vtable is at T - s.  The vtable is u16 vtable_size,
 *           u16 table_size, then one u16 per field: the field's offset from T, 0 when
 *           the field is absent (then it takes its schema default).
 *   offset: a u32 field at P pointing to P + value (tables, vectors, strings).
 *   vector: u32 count, then the elements; a vector of tables holds u32 offsets,
 *           each relative to its own position.  A string is a byte vector.
 *   union:  two fields: a u8 type (field id k) and an offset to a table (id k+1).
 * Field ids below are the declaration order in TFLite's schema.fbs (each union
 * counts as two).  Every read goes through fb_* helpers that check the range first.
 */
#include "engine/tflite.h"

#include "core/mem.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Field ids of schema.fbs tables (compat: file format). */
enum { MODEL_OPCODES = 1, MODEL_SUBGRAPHS = 2, MODEL_BUFFERS = 4 };
enum { OPCODE_DEPRECATED_CODE = 0, OPCODE_CUSTOM = 1, OPCODE_BUILTIN = 3 };
enum { SG_TENSORS = 0, SG_INPUTS = 1, SG_OUTPUTS = 2, SG_OPERATORS = 3 };
enum { TENSOR_SHAPE = 0, TENSOR_TYPE = 1, TENSOR_BUFFER = 2, TENSOR_NAME = 3, TENSOR_SPARSITY = 6 };
enum { BUFFER_DATA = 0, BUFFER_OFFSET = 1, BUFFER_SIZE = 2 };
enum { OP_OPCODE_INDEX = 0, OP_INPUTS = 1, OP_OUTPUTS = 2, OP_OPTIONS = 4 };
enum { SPARSITY_ORDER = 0, SPARSITY_BLOCK_MAP = 1, SPARSITY_DIM_META = 2 };
enum { DIM_FORMAT = 0, DIM_DENSE_SIZE = 1, DIM_SEG_TYPE = 2, DIM_SEG = 3, DIM_IDX_TYPE = 4 };
enum { DIM_IDX = 5 };
/* SparseIndexVector union members (compat: file format). */
enum { SIV_INT32 = 1, SIV_UINT16 = 2, SIV_UINT8 = 3 };

/* The bytes and the error sink of one parse. */
typedef struct fb {
    const uint8_t *p;
    size_t n;
    cr_err *err;
} fb;

/* A located table: position, vtable position and sizes. */
typedef struct fbt {
    size_t t, vt;
    unsigned vt_size, t_size;
} fbt;

static cr_status bad(fb *b, const char *what)
{
    return cr_err_set(b->err, CR_ERR_FORMAT, "tflite: malformed file: %s", what);
}

static uint32_t rd_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* 1 when [off, off+len) lies inside the buffer. */
static int in_range(const fb *b, size_t off, size_t len)
{
    return off <= b->n && len <= b->n - off;
}

static cr_status fb_table_at(fb *b, size_t t, fbt *out, const char *what)
{
    if (!in_range(b, t, 4))
        return bad(b, what);
    int32_t s = (int32_t)rd_u32(b->p + t);
    long long vt = (long long)t - (long long)s;
    if (vt < 0 || !in_range(b, (size_t)vt, 4))
        return bad(b, what);
    unsigned vs = rd_u16(b->p + vt), ts = rd_u16(b->p + vt + 2);
    if (vs < 4 || (vs & 1) || !in_range(b, (size_t)vt, vs) || ts < 4 || !in_range(b, t, ts))
        return bad(b, what);
    out->t = t;
    out->vt = (size_t)vt;
    out->vt_size = vs;
    out->t_size = ts;
    return CR_OK;
}

/* Offset of field `id` inside the table (0 = absent).  A field whose `width` bytes
 * would not fit inside the table is malformed. */
static cr_status fb_field(fb *b, const fbt *t, int id, unsigned width, unsigned *off,
                          const char *what)
{
    unsigned at = 4 + 2 * (unsigned)id;
    *off = 0;
    if (at + 2 > t->vt_size)
        return CR_OK;
    unsigned fo = rd_u16(b->p + t->vt + at);
    if (fo == 0)
        return CR_OK;
    if (fo < 4 || fo + width > t->t_size)
        return bad(b, what);
    *off = fo;
    return CR_OK;
}

static cr_status fb_scalar(fb *b, const fbt *t, int id, unsigned width, long long dflt,
                           long long *v, const char *what)
{
    unsigned fo;
    cr_status st = fb_field(b, t, id, width, &fo, what);
    if (st)
        return st;
    if (fo == 0) {
        *v = dflt;
        return CR_OK;
    }
    const uint8_t *p = b->p + t->t + fo;
    switch (width) {
    case 1:
        *v = p[0];
        break;
    case 2:
        *v = rd_u16(p);
        break;
    case 4:
        *v = rd_u32(p);
        break;
    default: /* 8 */
        *v = (long long)((uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32);
        break;
    }
    return CR_OK;
}

static cr_status fb_i32(fb *b, const fbt *t, int id, int dflt, int *v, const char *what)
{
    long long x;
    cr_status st = fb_scalar(b, t, id, 4, (uint32_t)dflt, &x, what);
    if (st == CR_OK)
        *v = (int32_t)(uint32_t)x;
    return st;
}

static cr_status fb_u8(fb *b, const fbt *t, int id, int dflt, int *v, const char *what)
{
    long long x;
    cr_status st = fb_scalar(b, t, id, 1, dflt, &x, what);
    if (st == CR_OK)
        *v = (int)x;
    return st;
}

/* Follows offset field `id`; *pos = 0 when absent. */
static cr_status fb_ref(fb *b, const fbt *t, int id, size_t *pos, const char *what)
{
    unsigned fo;
    cr_status st = fb_field(b, t, id, 4, &fo, what);
    *pos = 0;
    if (st || fo == 0)
        return st;
    size_t at = t->t + fo;
    size_t target = at + rd_u32(b->p + at);
    if (target < at || target >= b->n)
        return bad(b, what);
    *pos = target;
    return CR_OK;
}

/* A vector of `elem` byte elements: *data = first element, *count.  Absent: count 0. */
static cr_status fb_vector(fb *b, const fbt *t, int id, size_t elem, const uint8_t **data,
                           size_t *count, const char *what)
{
    size_t pos;
    cr_status st = fb_ref(b, t, id, &pos, what);
    *data = NULL;
    *count = 0;
    if (st || pos == 0)
        return st;
    if (!in_range(b, pos, 4))
        return bad(b, what);
    size_t cnt = rd_u32(b->p + pos);
    if (cnt > (b->n - pos - 4) / elem)
        return bad(b, what);
    *data = b->p + pos + 4;
    *count = cnt;
    return CR_OK;
}

/* The i-th table of a vector of tables at `data`. */
static cr_status fb_vec_table(fb *b, const uint8_t *data, size_t i, fbt *out, const char *what)
{
    size_t at = (size_t)(data - b->p) + 4 * i;
    size_t target = at + rd_u32(b->p + at);
    if (target < at)
        return bad(b, what);
    return fb_table_at(b, target, out, what);
}

/* A table field: *has = 0 when absent. */
static cr_status fb_subtable(fb *b, const fbt *t, int id, fbt *out, int *has, const char *what)
{
    size_t pos;
    cr_status st = fb_ref(b, t, id, &pos, what);
    *has = 0;
    if (st || pos == 0)
        return st;
    *has = 1;
    return fb_table_at(b, pos, out, what);
}

/* Reads a vector of int32 into `dst` (at most `cap`); more is CR_ERR_UNSUPPORTED. */
static cr_status fb_int_list(fb *b, const fbt *t, int id, int *dst, int cap, int *n,
                             const char *what)
{
    const uint8_t *d;
    size_t cnt;
    cr_status st = fb_vector(b, t, id, 4, &d, &cnt, what);
    if (st)
        return st;
    if (cnt > (size_t)cap)
        return cr_err_set(b->err, CR_ERR_UNSUPPORTED, "tflite: %s: %zu entries (at most %d)", what,
                          cnt, cap);
    for (size_t i = 0; i < cnt; i++)
        dst[i] = (int32_t)rd_u32(d + 4 * i);
    *n = (int)cnt;
    return CR_OK;
}

const char *engine_tflite_op_name(int code)
{
    switch (code) {
    case ENGINE_TFLITE_OP_ADD:
        return "ADD";
    case ENGINE_TFLITE_OP_CONCATENATION:
        return "CONCATENATION";
    case ENGINE_TFLITE_OP_CONV_2D:
        return "CONV_2D";
    case ENGINE_TFLITE_OP_DEPTHWISE_CONV_2D:
        return "DEPTHWISE_CONV_2D";
    case ENGINE_TFLITE_OP_DEPTH_TO_SPACE:
        return "DEPTH_TO_SPACE";
    case ENGINE_TFLITE_OP_DEQUANTIZE:
        return "DEQUANTIZE";
    case ENGINE_TFLITE_OP_LOGISTIC:
        return "LOGISTIC";
    case ENGINE_TFLITE_OP_MAX_POOL_2D:
        return "MAX_POOL_2D";
    case ENGINE_TFLITE_OP_RESHAPE:
        return "RESHAPE";
    case ENGINE_TFLITE_OP_RESIZE_BILINEAR:
        return "RESIZE_BILINEAR";
    case ENGINE_TFLITE_OP_PAD:
        return "PAD";
    case ENGINE_TFLITE_OP_PADV2:
        return "PADV2";
    case ENGINE_TFLITE_OP_DENSIFY:
        return "DENSIFY";
    }
    return "?";
}

static cr_status read_index_vec(fb *b, const fbt *dim, int type_id, int vec_id,
                                engine_tflite_index_vec *out, const char *what)
{
    int type, has;
    fbt v;
    cr_status st = fb_u8(b, dim, type_id, 0, &type, what);
    if (st == CR_OK)
        st = fb_subtable(b, dim, vec_id, &v, &has, what);
    if (st)
        return st;
    int es = type == SIV_INT32 ? 4 : type == SIV_UINT16 ? 2 : type == SIV_UINT8 ? 1 : 0;
    if (es == 0 || !has)
        return bad(b, what);
    size_t cnt;
    st = fb_vector(b, &v, 0, (size_t)es, &out->data, &cnt, what);
    if (st)
        return st;
    if (out->data == NULL)
        return bad(b, what);
    out->count = cnt;
    out->elem_size = es;
    return CR_OK;
}

static cr_status read_sparsity(fb *b, const fbt *sp, engine_tflite_sparsity *s)
{
    const char *w = "tensor sparsity";
    cr_status st = fb_int_list(b, sp, SPARSITY_ORDER, s->traversal_order, ENGINE_TFLITE_MAX_RANK,
                               &s->n_order, w);
    const uint8_t *d;
    size_t cnt;
    if (st == CR_OK)
        st = fb_vector(b, sp, SPARSITY_BLOCK_MAP, 4, &d, &cnt, w);
    if (st)
        return st;
    s->n_block_map = (int)(cnt > INT_MAX ? INT_MAX : cnt);
    st = fb_vector(b, sp, SPARSITY_DIM_META, 4, &d, &cnt, w);
    if (st)
        return st;
    if (cnt > ENGINE_TFLITE_MAX_RANK)
        return bad(b, "sparsity: too many dimensions");
    s->n_dims = (int)cnt;
    for (size_t i = 0; i < cnt; i++) {
        fbt dim;
        int fmt;
        engine_tflite_dim_meta *m = &s->dims[i];
        if ((st = fb_vec_table(b, d, i, &dim, w)) || (st = fb_u8(b, &dim, DIM_FORMAT, 0, &fmt, w)))
            return st;
        if (fmt != 0 && fmt != 1)
            return bad(b, "sparsity: unknown dimension format");
        m->sparse_csr = fmt;
        if (fmt == 0) {
            if ((st = fb_i32(b, &dim, DIM_DENSE_SIZE, 0, &m->dense_size, w)))
                return st;
        } else if ((st = read_index_vec(b, &dim, DIM_SEG_TYPE, DIM_SEG, &m->segments, w)) ||
                   (st = read_index_vec(b, &dim, DIM_IDX_TYPE, DIM_IDX, &m->indices, w))) {
            return st;
        }
    }
    return CR_OK;
}

static cr_status read_tensor(fb *b, const fbt *t, const uint8_t *bufs, size_t n_bufs,
                             engine_tflite_tensor *out)
{
    const char *w = "tensor";
    cr_status st =
        fb_int_list(b, t, TENSOR_SHAPE, out->dims, ENGINE_TFLITE_MAX_RANK, &out->rank, w);
    if (st)
        return st;
    for (int i = 0; i < out->rank; i++)
        if (out->dims[i] < 1)
            return bad(b, "tensor dimension < 1");
    long long buf;
    if ((st = fb_u8(b, t, TENSOR_TYPE, 0, &out->type, w)) ||
        (st = fb_scalar(b, t, TENSOR_BUFFER, 4, 0, &buf, w)))
        return st;
    /* Name. */
    const uint8_t *name;
    size_t name_len;
    if ((st = fb_vector(b, t, TENSOR_NAME, 1, &name, &name_len, w)))
        return st;
    out->name = cr_strndup(name ? (const char *)name : "", name ? name_len : 0);
    if (out->name == NULL)
        return cr_err_set(b->err, CR_ERR_NOMEM, "tflite: out of memory");
    /* Data: buffers[buf].data, or .offset/.size into the file (large-model layout). */
    if ((size_t)buf >= n_bufs)
        return bad(b, "tensor buffer index out of range");
    fbt bt;
    if ((st = fb_vec_table(b, bufs, (size_t)buf, &bt, "buffer")))
        return st;
    const uint8_t *data;
    size_t size;
    if ((st = fb_vector(b, &bt, BUFFER_DATA, 1, &data, &size, "buffer data")))
        return st;
    if (data == NULL || size == 0) {
        long long off, sz;
        if ((st = fb_scalar(b, &bt, BUFFER_OFFSET, 8, 0, &off, "buffer")) ||
            (st = fb_scalar(b, &bt, BUFFER_SIZE, 8, 0, &sz, "buffer")))
            return st;
        /* schema.fbs: offset 0 or 1 means "not used" (1 marks an empty buffer). */
        if (off > 1) {
            if (off < 0 || sz < 0 || !in_range(b, (size_t)off, (size_t)sz))
                return bad(b, "buffer offset/size outside the file");
            data = b->p + off;
            size = (size_t)sz;
        }
    }
    out->data = size ? data : NULL;
    out->size = size;
    /* Sparsity. */
    fbt sp;
    int has;
    if ((st = fb_subtable(b, t, TENSOR_SPARSITY, &sp, &has, w)))
        return st;
    if (has) {
        out->sparsity = cr_calloc(1, sizeof *out->sparsity);
        if (out->sparsity == NULL)
            return cr_err_set(b->err, CR_ERR_NOMEM, "tflite: out of memory");
        if ((st = read_sparsity(b, &sp, out->sparsity)))
            return st;
    }
    return CR_OK;
}

static cr_status read_options(fb *b, const fbt *op, int code, engine_tflite_options *o)
{
    const char *w = "operator options";
    memset(o, 0, sizeof *o);
    o->stride_w = o->stride_h = 1;
    o->dilation_w = o->dilation_h = 1;
    o->depth_multiplier = 1;
    o->n_new_shape = -1;
    fbt t;
    int has;
    cr_status st = fb_subtable(b, op, OP_OPTIONS, &t, &has, w);
    if (st || !has)
        return st;
    switch (code) {
    case ENGINE_TFLITE_OP_CONV_2D: /* Conv2DOptions: padding, stride_w, stride_h, act, dil_w, dil_h
                                    */
        if ((st = fb_u8(b, &t, 0, 0, &o->padding, w)) ||
            (st = fb_i32(b, &t, 1, 0, &o->stride_w, w)) ||
            (st = fb_i32(b, &t, 2, 0, &o->stride_h, w)) ||
            (st = fb_u8(b, &t, 3, 0, &o->activation, w)) ||
            (st = fb_i32(b, &t, 4, 1, &o->dilation_w, w)) ||
            (st = fb_i32(b, &t, 5, 1, &o->dilation_h, w)))
            return st;
        break;
    case ENGINE_TFLITE_OP_DEPTHWISE_CONV_2D: /* + depth_multiplier at 3 */
        if ((st = fb_u8(b, &t, 0, 0, &o->padding, w)) ||
            (st = fb_i32(b, &t, 1, 0, &o->stride_w, w)) ||
            (st = fb_i32(b, &t, 2, 0, &o->stride_h, w)) ||
            (st = fb_i32(b, &t, 3, 0, &o->depth_multiplier, w)) ||
            (st = fb_u8(b, &t, 4, 0, &o->activation, w)) ||
            (st = fb_i32(b, &t, 5, 1, &o->dilation_w, w)) ||
            (st = fb_i32(b, &t, 6, 1, &o->dilation_h, w)))
            return st;
        break;
    case ENGINE_TFLITE_OP_MAX_POOL_2D: /* Pool2DOptions: padding, stride_w, stride_h, fw, fh, act */
        if ((st = fb_u8(b, &t, 0, 0, &o->padding, w)) ||
            (st = fb_i32(b, &t, 1, 0, &o->stride_w, w)) ||
            (st = fb_i32(b, &t, 2, 0, &o->stride_h, w)) ||
            (st = fb_i32(b, &t, 3, 0, &o->filter_w, w)) ||
            (st = fb_i32(b, &t, 4, 0, &o->filter_h, w)) ||
            (st = fb_u8(b, &t, 5, 0, &o->activation, w)))
            return st;
        break;
    case ENGINE_TFLITE_OP_CONCATENATION: /* ConcatenationOptions: axis, act */
        if ((st = fb_i32(b, &t, 0, 0, &o->axis, w)) || (st = fb_u8(b, &t, 1, 0, &o->activation, w)))
            return st;
        break;
    case ENGINE_TFLITE_OP_ADD: /* AddOptions: act */
        if ((st = fb_u8(b, &t, 0, 0, &o->activation, w)))
            return st;
        break;
    case ENGINE_TFLITE_OP_RESIZE_BILINEAR: /* ResizeBilinearOptions: (2 deprecated), align, half */
        if ((st = fb_u8(b, &t, 2, 0, &o->align_corners, w)) ||
            (st = fb_u8(b, &t, 3, 0, &o->half_pixel_centers, w)))
            return st;
        break;
    case ENGINE_TFLITE_OP_DEPTH_TO_SPACE: /* DepthToSpaceOptions: block_size */
        if ((st = fb_i32(b, &t, 0, 0, &o->block_size, w)))
            return st;
        break;
    case ENGINE_TFLITE_OP_RESHAPE: { /* ReshapeOptions: new_shape */
        const uint8_t *d;
        size_t cnt;
        if ((st = fb_vector(b, &t, 0, 4, &d, &cnt, w)))
            return st;
        if (d != NULL) {
            if (cnt > ENGINE_TFLITE_MAX_NEW_SHAPE)
                return cr_err_set(b->err, CR_ERR_UNSUPPORTED, "tflite: reshape to rank %zu", cnt);
            for (size_t i = 0; i < cnt; i++)
                o->new_shape[i] = (int32_t)rd_u32(d + 4 * i);
            o->n_new_shape = (int)cnt;
        }
        break;
    }
    default:
        break;
    }
    return CR_OK;
}

static cr_status read_io_list(fb *b, const fbt *t, int id, int *dst, int *n, int n_tensors,
                              int allow_absent, const char *what)
{
    cr_status st = fb_int_list(b, t, id, dst, ENGINE_TFLITE_MAX_OP_IO, n, what);
    if (st)
        return st;
    for (int i = 0; i < *n; i++)
        if (dst[i] >= n_tensors || dst[i] < (allow_absent ? -1 : 0))
            return bad(b, "tensor index out of range");
    return CR_OK;
}

static cr_status parse(fb *b, engine_tflite_model *m)
{
    cr_status st;
    if (b->n < 8)
        return bad(b, "shorter than a FlatBuffer header");
    fbt model;
    if ((st = fb_table_at(b, rd_u32(b->p), &model, "root table")))
        return st;

    /* Operator codes: builtin_code (int32) unless smaller than the deprecated byte field. */
    const uint8_t *codes_v, *sg_v, *bufs_v;
    size_t n_codes, n_sg, n_bufs;
    if ((st = fb_vector(b, &model, MODEL_OPCODES, 4, &codes_v, &n_codes, "operator codes")) ||
        (st = fb_vector(b, &model, MODEL_SUBGRAPHS, 4, &sg_v, &n_sg, "subgraphs")) ||
        (st = fb_vector(b, &model, MODEL_BUFFERS, 4, &bufs_v, &n_bufs, "buffers")))
        return st;
    if (n_sg == 0)
        return bad(b, "no subgraph");
    if (n_sg > 1)
        return cr_err_set(b->err, CR_ERR_UNSUPPORTED, "tflite: %zu subgraphs (only 1 supported)",
                          n_sg);
    fbt sg;
    if ((st = fb_vec_table(b, sg_v, 0, &sg, "subgraph")))
        return st;

    const uint8_t *tens_v, *ops_v;
    size_t n_tens, n_ops;
    if ((st = fb_vector(b, &sg, SG_TENSORS, 4, &tens_v, &n_tens, "tensors")) ||
        (st = fb_vector(b, &sg, SG_OPERATORS, 4, &ops_v, &n_ops, "operators")))
        return st;
    if (n_tens == 0 || n_tens > INT_MAX / 2 || n_ops > INT_MAX / 2)
        return bad(b, "tensor or operator count");
    m->tensors = cr_calloc(n_tens, sizeof *m->tensors);
    m->ops = cr_calloc(n_ops ? n_ops : 1, sizeof *m->ops);
    if (m->tensors == NULL || m->ops == NULL)
        return cr_err_set(b->err, CR_ERR_NOMEM, "tflite: out of memory");
    m->n_tensors = (int)n_tens;
    m->n_ops = (int)n_ops;
    for (size_t i = 0; i < n_tens; i++) {
        fbt t;
        if ((st = fb_vec_table(b, tens_v, i, &t, "tensor")) ||
            (st = read_tensor(b, &t, bufs_v, n_bufs, &m->tensors[i]))) {
            cr_err_set(b->err, st, "tflite: tensor %zu", i);
            return st;
        }
    }
    if ((st = read_io_list(b, &sg, SG_INPUTS, m->inputs, &m->n_inputs, m->n_tensors, 0,
                           "subgraph inputs")) ||
        (st = read_io_list(b, &sg, SG_OUTPUTS, m->outputs, &m->n_outputs, m->n_tensors, 0,
                           "subgraph outputs")))
        return st;

    for (size_t i = 0; i < n_ops; i++) {
        fbt op, oc;
        engine_tflite_op *o = &m->ops[i];
        long long idx;
        int dep, code;
        const uint8_t *custom;
        size_t custom_len;
        if ((st = fb_vec_table(b, ops_v, i, &op, "operator")) ||
            (st = fb_scalar(b, &op, OP_OPCODE_INDEX, 4, 0, &idx, "operator")))
            return st;
        if ((size_t)idx >= n_codes)
            return bad(b, "operator code index out of range");
        if ((st = fb_vec_table(b, codes_v, (size_t)idx, &oc, "operator code")) ||
            (st = fb_u8(b, &oc, OPCODE_DEPRECATED_CODE, 0, &dep, "operator code")) ||
            (st = fb_i32(b, &oc, OPCODE_BUILTIN, 0, &code, "operator code")) ||
            (st = fb_vector(b, &oc, OPCODE_CUSTOM, 1, &custom, &custom_len, "operator code")))
            return st;
        /* schema.fbs: the real code is max(builtin_code, deprecated_builtin_code). */
        code = code > (int)(int8_t)dep ? code : (int)(int8_t)dep;
        if (custom != NULL)
            return cr_err_set(b->err, CR_ERR_UNSUPPORTED, "tflite: custom operator %.*s",
                              (int)(custom_len > 64 ? 64 : custom_len), (const char *)custom);
        o->code = code;
        if ((st = read_io_list(b, &op, OP_INPUTS, o->inputs, &o->n_inputs, m->n_tensors, 1,
                               "operator inputs")) ||
            (st = read_io_list(b, &op, OP_OUTPUTS, o->outputs, &o->n_outputs, m->n_tensors, 0,
                               "operator outputs")) ||
            (st = read_options(b, &op, code, &o->opt))) {
            cr_err_set(b->err, st, "tflite: operator %zu", i);
            return st;
        }
    }
    return CR_OK;
}

cr_status engine_tflite_model_parse(const void *bytes, size_t n, engine_tflite_model **out,
                                    cr_err *err)
{
    *out = NULL;
    engine_tflite_model *m = cr_calloc(1, sizeof *m);
    if (m == NULL)
        return cr_err_set(err, CR_ERR_NOMEM, "tflite: out of memory");
    fb b = {bytes, bytes ? n : 0, err};
    cr_status st = parse(&b, m);
    if (st) {
        engine_tflite_model_free(m);
        return st;
    }
    *out = m;
    return CR_OK;
}

cr_status engine_tflite_model_load(const char *path, engine_tflite_model **out, cr_err *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return cr_err_set(err, errno == ENOENT ? CR_ERR_NOT_FOUND : CR_ERR_IO,
                          "tflite: open %s: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        len = ftell(f);
    /* 1 GiB: far above the largest pose model (27.7 MB, POSE-NOTES.md). */
    if (len < 0 || len > (1L << 30) || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return cr_err_set(err, len > (1L << 30) ? CR_ERR_LIMIT : CR_ERR_IO,
                          "tflite: %s: cannot size the file", path);
    }
    buf = cr_malloc(len ? (size_t)len : 1);
    if (buf == NULL) {
        fclose(f);
        return cr_err_set(err, CR_ERR_NOMEM, "tflite: out of memory reading %s", path);
    }
    size_t got = fread(buf, 1, (size_t)len, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != (size_t)len || rerr) {
        cr_free(buf);
        return cr_err_set(err, CR_ERR_IO, "tflite: read %s failed", path);
    }
    engine_tflite_model *m;
    cr_status st = engine_tflite_model_parse(buf, (size_t)len, &m, err);
    if (st) {
        cr_free(buf);
        cr_err_set(err, st, "tflite: %s", path);
        return st;
    }
    m->owned = buf;
    *out = m;
    return CR_OK;
}

void engine_tflite_model_free(engine_tflite_model *m)
{
    if (m == NULL)
        return;
    if (m->tensors) {
        for (int i = 0; i < m->n_tensors; i++) {
            cr_free(m->tensors[i].name);
            cr_free(m->tensors[i].sparsity);
        }
    }
    cr_free(m->tensors);
    cr_free(m->ops);
    cr_free(m->owned);
    cr_free(m);
}
