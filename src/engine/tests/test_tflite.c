/*
 * test_tflite -- the TFLite reader and the graph built from it, on the four real
 * model files: counts, operators, options, outputs (facts in POSE-NOTES.md and
 * read off the files), fp16 dequantization and CSR densification checked value by
 * value against an independent decoding written here, pruning, and the compute size.
 */
#include "check.h"
#include "engine/graph.h"
#include "engine/tflite.h"

#include <stdint.h>

/* binary16 -> double from its definition: (-1)^s * 2^(e-15) * (1 + m/1024), subnormals
 * 2^-14 * m/1024 (IEEE 754-2008 §3.4). */
static double half_ref(const uint8_t *p)
{
    unsigned h = p[0] | p[1] << 8, s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0    ? ldexp(m / 1024.0, -14)
               : e == 31 ? (m ? NAN : INFINITY)
                         : ldexp(1 + m / 1024.0, (int)e - 15);
    return s ? -v : v;
}

static unsigned idx_ref(const engine_tflite_index_vec *v, size_t i)
{
    const uint8_t *p = v->data + i * v->elem_size;
    return v->elem_size == 1   ? p[0]
           : v->elem_size == 2 ? (unsigned)(p[0] | p[1] << 8)
                               : (unsigned)(p[0] | p[1] << 8 | p[2] << 16 | (unsigned)p[3] << 24);
}

typedef struct expect {
    const char *file;
    int tensors, ops, dequantize, densify, concat, graph_nodes;
    double mmacs; /* dense MACs of conv + depthwise conv, POSE-NOTES.md */
} expect;

static const expect models[] = {
    {"models/pose_detection.tflite", 442, 291, 144, 38, 2, 109, 430},
    {"models/pose_landmark_lite.tflite", 492, 305, 176, 0, 0, 129, 198},
    {"models/pose_landmark_full.tflite", 535, 332, 192, 0, 0, 140, 386},
    {"models/pose_landmark_heavy.tflite", 1098, 689, 396, 0, 0, 293, 1927},
};

static int count_code(const engine_tflite_model *m, int code)
{
    int n = 0;
    for (int i = 0; i < m->n_ops; i++)
        n += m->ops[i].code == code;
    return n;
}

/* Every DEQUANTIZE output in the graph equals the fp16 input decoded here; every
 * DENSIFY output equals the CSR input expanded here. */
/* The graph tensor that the folded constant `t` passed its values to: the output of the
 * DEQUANTIZE that reads it, or NULL. */
static const engine_graph_tensor *moved_to(const engine_tflite_model *m, const engine_graph *g,
                                           int t)
{
    for (int i = 0; i < m->n_ops; i++)
        if (m->ops[i].code == ENGINE_TFLITE_OP_DEQUANTIZE && m->ops[i].inputs[0] == t)
            return &g->tensors[m->ops[i].outputs[0]];
    return NULL;
}

static void check_constants(const engine_tflite_model *m, const engine_graph *g)
{
    int checked = 0, sparse = 0;
    for (int i = 0; i < m->n_ops; i++) {
        const engine_tflite_op *op = &m->ops[i];
        const engine_tflite_tensor *t = &m->tensors[op->inputs[0]];
        const engine_graph_tensor *out = &g->tensors[op->outputs[0]];
        if (op->code == ENGINE_TFLITE_OP_DEQUANTIZE || op->code == ENGINE_TFLITE_OP_DENSIFY) {
            /* each constant has one reader here, so its values moved on: held once */
            CHECK_MSG(g->tensors[op->inputs[0]].data == NULL, "%s is held twice",
                      g->tensors[op->inputs[0]].name);
            if (out->data == NULL) /* DENSIFY's output moved on to its DEQUANTIZE */
                out = moved_to(m, g, op->outputs[0]);
            CHECK_MSG(out != NULL && out->data != NULL, "operator %d's output has no values", i);
            if (out == NULL || out->data == NULL)
                continue;
        }
        if (op->code == ENGINE_TFLITE_OP_DEQUANTIZE && t->sparsity == NULL && t->data) {
            int bad = 0;
            CHECK_INT_EQ(t->type, ENGINE_TFLITE_FLOAT16);
            for (size_t k = 0; k < out->count && !bad; k++)
                bad = (double)out->data[k] != half_ref(t->data + 2 * k);
            CHECK_MSG(!bad, "dequantized %s differs", out->name);
            checked++;
        }
        if (op->code == ENGINE_TFLITE_OP_DENSIFY) {
            const engine_tflite_sparsity *s = t->sparsity;
            CHECK(s != NULL && s->n_dims == 4 && s->n_order == 4 && s->n_block_map == 0);
            if (s == NULL)
                continue;
            for (int d = 0; d < 4; d++)
                CHECK(s->traversal_order[d] == d && s->dims[d].sparse_csr == (d == 3));
            int O = t->dims[0], I = t->dims[3];
            const engine_tflite_index_vec *seg = &s->dims[3].segments, *idx = &s->dims[3].indices;
            CHECK_INT_EQ(seg->count, O + 1);
            /* 25 % dense (POSE-NOTES.md); one kernel has one non-zero fewer */
            CHECK(idx->count * 4 <= (size_t)O * I && idx->count * 4 >= (size_t)O * I * 99 / 100);
            double *dense = calloc((size_t)O * I, sizeof *dense);
            for (int r = 0; dense && r < O; r++)
                for (unsigned k = idx_ref(seg, r); k < idx_ref(seg, r + 1); k++)
                    dense[(size_t)r * I + idx_ref(idx, k)] = half_ref(t->data + 2 * k);
            int bad = 0;
            for (size_t k = 0; dense && k < (size_t)O * I; k++)
                bad += (double)out->data[k] != dense[k];
            CHECK_MSG(dense && bad == 0, "densified %s: %d values differ", out->name, bad);
            free(dense);
            sparse++;
        }
    }
    printf("  %d dequantized and %d densified constants checked\n", checked, sparse);
    CHECK(checked > 100);
}

/* A constant read by two DEQUANTIZEs (none of the pose models has one; a model may): the
 * second takes the first one's fp16 input, so neither may take the values from the other,
 * and both outputs must hold them.  Restores the model. */
static void check_shared_constant(engine_tflite_model *m)
{
    int a = -1, b = -1;
    for (int i = 0; i < m->n_ops && b < 0; i++)
        for (int j = i + 1; j < m->n_ops && b < 0; j++) {
            const engine_tflite_op *p = &m->ops[i], *q = &m->ops[j];
            if (p->code == ENGINE_TFLITE_OP_DEQUANTIZE && q->code == ENGINE_TFLITE_OP_DEQUANTIZE &&
                !m->tensors[p->inputs[0]].sparsity && !m->tensors[q->inputs[0]].sparsity &&
                m->tensors[p->inputs[0]].size == m->tensors[q->inputs[0]].size) {
                a = i;
                b = j;
            }
        }
    CHECK_MSG(b >= 0, "no two DEQUANTIZEs of the same size");
    if (b < 0)
        return;
    int shared = m->ops[a].inputs[0], own = m->ops[b].inputs[0];
    m->ops[b].inputs[0] = shared;
    engine_graph *g = NULL;
    cr_err err = {0};
    cr_status st = engine_graph_from_tflite(m, &g, &err);
    CHECK_MSG(st == CR_OK, "graph with a shared constant: %s", cr_err_msg(&err));
    if (st == CR_OK) {
        const engine_graph_tensor *x = &g->tensors[shared], *ya = &g->tensors[m->ops[a].outputs[0]],
                                  *yb = &g->tensors[m->ops[b].outputs[0]];
        CHECK(x->data != NULL && ya->data != NULL && yb->data != NULL);
        CHECK(ya->data != yb->data && ya->data != x->data);
        int bad = 0;
        for (size_t k = 0; x->data && ya->data && yb->data && k < x->count; k++)
            bad += ya->data[k] != x->data[k] || yb->data[k] != x->data[k];
        CHECK_INT_EQ(bad, 0);
        engine_graph_free(g);
    }
    m->ops[b].inputs[0] = own;
}

static void check_model(const expect *x)
{
    engine_tflite_model *m;
    engine_graph *g;
    cr_err err = {0};
    cr_status st = engine_tflite_model_load(x->file, &m, &err);
    CHECK_MSG(st == CR_OK, "%s: %s", x->file, cr_err_msg(&err));
    if (st)
        return;
    printf("%s: %d tensors, %d operators\n", x->file, m->n_tensors, m->n_ops);
    CHECK_INT_EQ(m->n_tensors, x->tensors);
    CHECK_INT_EQ(m->n_ops, x->ops);
    CHECK_INT_EQ(count_code(m, ENGINE_TFLITE_OP_DEQUANTIZE), x->dequantize);
    CHECK_INT_EQ(count_code(m, ENGINE_TFLITE_OP_DENSIFY), x->densify);
    CHECK_INT_EQ(count_code(m, ENGINE_TFLITE_OP_CONCATENATION), x->concat);
    CHECK_INT_EQ(m->n_inputs, 1);
    CHECK_STR_EQ(m->tensors[m->inputs[0]].name, "input_1");
    int detector = x->densify > 0;
    CHECK_INT_EQ(m->n_outputs, detector ? 2 : 5);
    /* Output names and shapes (engine.h). */
    for (int i = 0; i < m->n_outputs; i++) {
        const engine_tflite_tensor *t = &m->tensors[m->outputs[i]];
        if (detector) {
            CHECK_STR_EQ(t->name, i == 0 ? "Identity" : "Identity_1");
            CHECK(t->rank == 3 && t->dims[1] == 2254 && t->dims[2] == (i == 0 ? 12 : 1));
        } else if (strcmp(t->name, "Identity_3") == 0) {
            CHECK(t->rank == 4 && t->dims[1] == 64 && t->dims[2] == 64 && t->dims[3] == 39);
        } else if (strcmp(t->name, "Identity") == 0) {
            CHECK(t->rank == 2 && t->dims[1] == 195);
        }
    }
    /* Options: every op's fused activation is NONE or RELU6; resizes are half-pixel; the
     * detector's depth-to-space blocks are 2 and its concatenations on axis 1. */
    for (int i = 0; i < m->n_ops; i++) {
        const engine_tflite_op *op = &m->ops[i];
        CHECK(op->opt.activation == ENGINE_TFLITE_ACT_NONE ||
              op->opt.activation == ENGINE_TFLITE_ACT_RELU6);
        if (op->code == ENGINE_TFLITE_OP_RESIZE_BILINEAR)
            CHECK(op->opt.half_pixel_centers == 1 && op->opt.align_corners == 0);
        if (op->code == ENGINE_TFLITE_OP_DEPTH_TO_SPACE)
            CHECK_INT_EQ(op->opt.block_size, 2);
        if (op->code == ENGINE_TFLITE_OP_CONCATENATION)
            CHECK_INT_EQ(op->opt.axis, 1);
        if (op->code == ENGINE_TFLITE_OP_MAX_POOL_2D)
            CHECK(op->opt.filter_w == 2 && op->opt.filter_h == 2 && op->opt.stride_w == 2 &&
                  op->opt.padding == ENGINE_TFLITE_PADDING_VALID);
        if (op->code == ENGINE_TFLITE_OP_CONV_2D || op->code == ENGINE_TFLITE_OP_DEPTHWISE_CONV_2D)
            CHECK(op->opt.dilation_w == 1 && op->opt.dilation_h == 1 &&
                  (op->opt.stride_w == 1 || op->opt.stride_w == 2));
    }
    /* The detector's first conv: 3x3 stride 2 VALID after an explicit PAD, RELU6. */
    if (detector) {
        const engine_tflite_op *c = &m->ops[3];
        CHECK(c->code == ENGINE_TFLITE_OP_CONV_2D && c->opt.stride_h == 2 &&
              c->opt.padding == ENGINE_TFLITE_PADDING_VALID &&
              c->opt.activation == ENGINE_TFLITE_ACT_RELU6);
        CHECK_INT_EQ(m->ops[0].code, ENGINE_TFLITE_OP_PAD);
    }

    st = engine_graph_from_tflite(m, &g, &err);
    CHECK_MSG(st == CR_OK, "graph: %s", cr_err_msg(&err));
    if (st == CR_OK) {
        printf("  graph: %d nodes, %.0f M MACs\n", g->n_nodes, engine_graph_macs(g) / 1e6);
        CHECK_INT_EQ(g->n_nodes, x->graph_nodes);
        CHECK_NEAR(engine_graph_macs(g) / 1e6, x->mmacs, x->mmacs * 0.01);
        check_constants(m, g);
        /* Pruning: the landmark models without segmentation; bad names leave it intact. */
        if (!detector) {
            const char *bad[] = {"Identity", "no_such_tensor"};
            int before = g->n_nodes;
            CHECK_INT_EQ(engine_graph_prune(g, bad, 2, NULL), CR_ERR_INVALID);
            const char *dup[] = {"Identity", "Identity"};
            CHECK_INT_EQ(engine_graph_prune(g, dup, 2, NULL), CR_ERR_INVALID);
            CHECK_INT_EQ(g->n_nodes, before);
            const char *need[] = {"Identity", "Identity_1", "Identity_3", "Identity_4"};
            CHECK_INT_EQ(engine_graph_prune(g, need, 4, NULL), CR_OK);
            printf("  pruned without segmentation: %d nodes, %.0f M MACs\n", g->n_nodes,
                   engine_graph_macs(g) / 1e6);
            CHECK(g->n_nodes < before);
            CHECK_INT_EQ(g->n_outputs, 4);
            CHECK_INT_EQ(engine_graph_check(g, NULL), CR_OK);
        }
        engine_graph_free(g);
    }
    check_shared_constant(m);
    engine_tflite_model_free(m);
}

int main(void)
{
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
        check_model(&models[i]);
    /* A missing file. */
    engine_tflite_model *m = NULL;
    CHECK_INT_EQ(engine_tflite_model_load("models/no_such_model.tflite", &m, NULL),
                 CR_ERR_NOT_FOUND);
    CHECK(m == NULL);
    CHECK_STR_EQ(engine_tflite_op_name(ENGINE_TFLITE_OP_DENSIFY), "DENSIFY");
    return check_exit();
}
