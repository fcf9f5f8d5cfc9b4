/*
 * graph.h -- a model as a small dataflow graph of float32 operators, independent
 * of the file format it came from, and the pruning of that graph to the outputs
 * a caller needs.
 *
 * Internal to the engine module (see the names in engine.h); other modules use engine.h.
 *
 * Built from an engine_tflite_model (engine_graph_from_tflite), which at load time:
 *   - turns every constant into float32: fp16 buffers are converted, sparse
 *     (CSR) buffers densified, and DEQUANTIZE / DENSIFY of constants folded away;
 *   - resolves operator parameters that TFLite keeps in constant tensors (PAD's
 *     paddings, PADV2's value, RESIZE_BILINEAR's size, RESHAPE's shape);
 *   - turns SAME/VALID padding into explicit pads (TensorFlow's rule: total =
 *     max((out-1)*stride + k - in, 0), before = total/2);
 *   - checks every operator: operand counts, ranks, constant sizes, and that the
 *     declared output shape is exactly what the operator computes, and that the
 *     operators come in dataflow order.  An engine can therefore index buffers
 *     from the shapes without further checks;
 *   - bounds the whole graph: activations and the work of window operators
 *     (engine_graph_work) have limits, so one run takes bounded memory and time.
 * Anything else is CR_ERR_FORMAT (inconsistent file) or CR_ERR_UNSUPPORTED
 * (operator, option, activation or dilation this project does not implement).
 *
 * All activations are float32; 4-D tensors are NHWC with batch 1 (engine_graph_set_batch
 * widens a checked graph to batch N afterwards); conv filters
 * are OHWI [O,KH,KW,I]; depthwise filters [1,KH,KW,C] (depth multiplier 1).
 *
 * A graph is immutable after engine_graph_prune and may be read by several engines.
 */
#ifndef CR_ENGINE_GRAPH_H
#define CR_ENGINE_GRAPH_H

#include "core/status.h"
#include "engine/tflite.h"

#include <stddef.h>

#define ENGINE_GRAPH_MAX_RANK 4
#define ENGINE_GRAPH_MAX_INPUTS ENGINE_TFLITE_MAX_OP_IO

typedef enum engine_graph_op {
    ENGINE_GRAPH_CONV2D = 0,      /* in: x, filter, bias (or -1) */
    ENGINE_GRAPH_DWCONV2D,        /* in: x, filter, bias (or -1) */
    ENGINE_GRAPH_ADD,             /* in: a, b of the same shape */
    ENGINE_GRAPH_MAX_POOL,        /* in: x */
    ENGINE_GRAPH_PAD,             /* in: x; pads, pad_value */
    ENGINE_GRAPH_RESIZE_BILINEAR, /* in: x; align_corners, half_pixel */
    ENGINE_GRAPH_DEPTH_TO_SPACE,  /* in: x; block (DCR order, as TFLite) */
    ENGINE_GRAPH_RESHAPE,         /* in: x; same element count, same bytes */
    ENGINE_GRAPH_CONCAT,          /* in: n_in tensors; axis */
    ENGINE_GRAPH_LOGISTIC,        /* in: x */
    ENGINE_GRAPH_OP_COUNT
} engine_graph_op;

typedef struct engine_graph_tensor {
    char *name; /* owned */
    int rank;
    int dims[ENGINE_GRAPH_MAX_RANK];
    size_t count; /* elements */
    float *data;  /* owned constant values, NULL for activations */
    int producer; /* node index, -1 for constants and the input */
} engine_graph_tensor;

typedef struct engine_graph_node {
    engine_graph_op op;
    int n_in;
    int in[ENGINE_GRAPH_MAX_INPUTS]; /* tensor indices; in[2] may be -1 (no bias) */
    int out;
    /* CONV2D, DWCONV2D, MAX_POOL */
    int kh, kw, stride_h, stride_w;
    int pad_top, pad_bottom, pad_left, pad_right;
    float act_min, act_max; /* fused activation as a clamp (-INF..INF when none) */
    /* PAD: pads[d][0] before and pads[d][1] after dimension d */
    int pads[ENGINE_GRAPH_MAX_RANK][2];
    float pad_value;
    /* RESIZE_BILINEAR */
    int align_corners, half_pixel;
    /* DEPTH_TO_SPACE */
    int block;
    /* CONCAT: axis in [0, rank) */
    int axis;
} engine_graph_node;

typedef struct engine_graph {
    int n_tensors;
    engine_graph_tensor *tensors;
    int n_nodes;
    engine_graph_node *nodes;
    int input; /* the single input tensor, rank 4 NHWC [1,H,W,C] */
    int n_outputs;
    int outputs[ENGINE_GRAPH_MAX_INPUTS];
    int borrowed; /* 1: the constants' values are another graph's (engine_graph_share) */
} engine_graph;

/* Builds a graph from a parsed model (see the top comment).  On failure *out is
 * NULL and nothing leaks.  The model may be freed afterwards. */
cr_status engine_graph_from_tflite(const engine_tflite_model *m, engine_graph **out, cr_err *err);

/* Keeps only the nodes needed for the named tensors, which become the graph's
 * outputs in that order (n == 0: keep the model's outputs, drop nothing but dead
 * nodes).  Names may be any non-constant tensor.  Unknown or constant names,
 * duplicates or more than ENGINE_GRAPH_MAX_INPUTS names are CR_ERR_INVALID, and then the
 * graph is unchanged.  Constants no longer used are freed. */
cr_status engine_graph_prune(engine_graph *g, const char *const *names, int n, cr_err *err);

/* Widens a checked (and usually pruned) batch-1 graph to batch `n`: every activation
 * tensor's first dimension becomes n (constants are shared by all items).  Each item of
 * a batch is computed exactly as alone, so an engine needs no other change than looping
 * over dims[0] where it indexes by item.  Allowed only when the items cannot mix: every
 * activation starts with a dimension 1, no PAD pads the batch dimension and no CONCAT
 * joins along it; anything else is CR_ERR_UNSUPPORTED and leaves the graph unchanged.
 * n < 1, n > 1024 or a batch of more than 2^33 activation floats (32 GiB) in all is
 * CR_ERR_LIMIT. */
cr_status engine_graph_set_batch(engine_graph *g, int n, cr_err *err);

/* Index of the tensor named `name`, or -1. */
int engine_graph_find(const engine_graph *g, const char *name);

/* Multiply-accumulates of the CONV2D/DWCONV2D nodes (a size measure for tests and benchmarks). */
double engine_graph_macs(const engine_graph *g);

/* The steps of the window operators: engine_graph_macs plus, for each MAX_POOL, output
 * elements x window.  engine_graph_check refuses a graph above 1e11 (CR_ERR_LIMIT):
 * what bounds the time of one run. */
double engine_graph_work(const engine_graph *g);

const char *engine_graph_op_name(engine_graph_op op);

/* A PAD node's shapes as every engine pads them: input and output dimensions and the
 * pads before each dimension, as 4-D (a tensor of lower rank gets leading 1s and 0
 * pads). */
typedef struct engine_graph_pad4 {
    int xd[4], yd[4], before[4];
} engine_graph_pad4;
engine_graph_pad4 engine_graph_pad_4d(const engine_graph *g, const engine_graph_node *n);

/* A RESIZE_BILINEAR node along one axis of `in` input and `out` output samples, as
 * TFLite defines it (reference_ops ResizeBilinear, ComputeInterpolationValues): the
 * scale, then for output index o the source position *v and the two taps *lo, *hi. */
float engine_graph_resize_scale(const engine_graph_node *n, int in, int out);
void engine_graph_resize_taps(const engine_graph_node *n, float scale, int o, int in, float *v,
                              int *lo, int *hi);

/* Tests and synthetic graphs: an empty graph (NULL when out of memory), and appenders.
 * engine_graph_add_tensor copies `data` (count floats) when not NULL; both return the new
 * index, or -1 with the reason in err (CR_ERR_NOMEM; for a tensor also
 * CR_ERR_UNSUPPORTED for rank > 4, CR_ERR_LIMIT for an empty or too large shape,
 * CR_ERR_INVALID for a constant added to a shared graph).
 * engine_graph_add_node checks nothing: engine_graph_check validates the whole graph. */
engine_graph *engine_graph_new(void);
int engine_graph_add_tensor(engine_graph *g, const char *name, int rank, const int *dims,
                            const float *data, cr_err *err);
int engine_graph_add_node(engine_graph *g, const engine_graph_node *node, cr_err *err);
/* Checks shapes and dataflow order of every node as engine_graph_from_tflite does. */
cr_status engine_graph_check(engine_graph *g, cr_err *err);

/* A copy of g's tensors and nodes whose constants are g's own values, not copies
 * (borrowed = 1): pruning it or widening it to a batch leaves g as it was, and freeing
 * it frees nothing of g's.  g must outlive it and not change meanwhile.  This is how
 * several engines are made from one loaded model (engine.h, engine_model).  On failure
 * *out is NULL (CR_ERR_NOMEM). */
cr_status engine_graph_share(const engine_graph *g, engine_graph **out, cr_err *err);

/* Frees everything (but borrowed constants).  NULL is a no-op. */
void engine_graph_free(engine_graph *g);

#endif
