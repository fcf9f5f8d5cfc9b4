/*
 * graph.h -- a model as a small dataflow graph of float32 operators, independent
 * of the file format it came from, and the pruning of that graph to the outputs
 * a caller needs.
 *
 * Built from a tflite_model (graph_from_tflite), which at load time:
 *   - turns every constant into float32: fp16 buffers are converted, sparse
 *     (CSR) buffers densified, and DEQUANTIZE / DENSIFY of constants folded away;
 *   - resolves operator parameters that TFLite keeps in constant tensors (PAD's
 *     paddings, PADV2's value, RESIZE_BILINEAR's size, RESHAPE's shape);
 *   - turns SAME/VALID padding into explicit pads (TensorFlow's rule: total =
 *     max((out-1)*stride + k - in, 0), before = total/2);
 *   - checks every operator: operand counts, ranks, constant sizes, and that the
 *     declared output shape is exactly what the operator computes, and that the
 *     operators come in dataflow order.  An engine can therefore index buffers
 *     from the shapes without further checks.
 * Anything else is CR_ERR_FORMAT (inconsistent file) or CR_ERR_UNSUPPORTED
 * (operator, option, activation or dilation this project does not implement).
 *
 * All activations are float32; 4-D tensors are NHWC with batch 1; conv filters
 * are OHWI [O,KH,KW,I]; depthwise filters [1,KH,KW,C] (depth multiplier 1).
 *
 * A graph is immutable after graph_prune and may be read by several engines.
 */
#ifndef CR_ENGINE_GRAPH_H
#define CR_ENGINE_GRAPH_H

#include "core/status.h"
#include "engine/tflite.h"

#include <stddef.h>

#define GRAPH_MAX_RANK 4
#define GRAPH_MAX_INPUTS TFLITE_MAX_OP_IO

typedef enum graph_op {
    GRAPH_CONV2D = 0,      /* in: x, filter, bias (or -1) */
    GRAPH_DWCONV2D,        /* in: x, filter, bias (or -1) */
    GRAPH_ADD,             /* in: a, b of the same shape */
    GRAPH_MAX_POOL,        /* in: x */
    GRAPH_PAD,             /* in: x; pads, pad_value */
    GRAPH_RESIZE_BILINEAR, /* in: x; align_corners, half_pixel */
    GRAPH_DEPTH_TO_SPACE,  /* in: x; block (DCR order, as TFLite) */
    GRAPH_RESHAPE,         /* in: x; same element count, same bytes */
    GRAPH_CONCAT,          /* in: n_in tensors; axis */
    GRAPH_LOGISTIC,        /* in: x */
    GRAPH_OP_COUNT
} graph_op;

typedef struct graph_tensor {
    char *name; /* owned */
    int rank;
    int dims[GRAPH_MAX_RANK];
    size_t count; /* elements */
    float *data;  /* owned constant values, NULL for activations */
    int producer; /* node index, -1 for constants and the input */
} graph_tensor;

typedef struct graph_node {
    graph_op op;
    int n_in;
    int in[GRAPH_MAX_INPUTS]; /* tensor indices; in[2] may be -1 (no bias) */
    int out;
    /* CONV2D, DWCONV2D, MAX_POOL */
    int kh, kw, stride_h, stride_w;
    int pad_top, pad_bottom, pad_left, pad_right;
    float act_min, act_max; /* fused activation as a clamp (-INF..INF when none) */
    /* PAD: pads[d][0] before and pads[d][1] after dimension d */
    int pads[GRAPH_MAX_RANK][2];
    float pad_value;
    /* RESIZE_BILINEAR */
    int align_corners, half_pixel;
    /* DEPTH_TO_SPACE */
    int block;
    /* CONCAT: axis in [0, rank) */
    int axis;
} graph_node;

typedef struct graph {
    int n_tensors;
    graph_tensor *tensors;
    int n_nodes;
    graph_node *nodes;
    int input; /* the single input tensor, rank 4 NHWC [1,H,W,C] */
    int n_outputs;
    int outputs[GRAPH_MAX_INPUTS];
} graph;

/* Builds a graph from a parsed model (see the top comment).  On failure *out is
 * NULL and nothing leaks.  The model may be freed afterwards. */
cr_status graph_from_tflite(const tflite_model *m, graph **out, cr_err *err);

/* Keeps only the nodes needed for the named tensors, which become the graph's
 * outputs in that order (n == 0: keep the model's outputs, drop nothing but dead
 * nodes).  Names may be any non-constant tensor.  Unknown or constant names,
 * duplicates or more than GRAPH_MAX_INPUTS names are CR_ERR_INVALID, and then the
 * graph is unchanged.  Constants no longer used are freed. */
cr_status graph_prune(graph *g, const char *const *names, int n, cr_err *err);

/* Index of the tensor named `name`, or -1. */
int graph_find(const graph *g, const char *name);

/* Multiply-accumulates of the CONV2D/DWCONV2D nodes (a size measure for tests and benchmarks). */
double graph_macs(const graph *g);

const char *graph_op_name(graph_op op);

/* Tests and synthetic graphs: an empty graph (NULL when out of memory), and appenders.
 * graph_add_tensor copies `data` (count floats) when not NULL; both return the new
 * index, or -1 with the reason in err (CR_ERR_NOMEM; for a tensor also
 * CR_ERR_UNSUPPORTED for rank > 4, CR_ERR_LIMIT for an empty or too large shape).
 * graph_add_node checks nothing: graph_check validates the whole graph. */
graph *graph_new(void);
int graph_add_tensor(graph *g, const char *name, int rank, const int *dims, const float *data,
                     cr_err *err);
int graph_add_node(graph *g, const graph_node *node, cr_err *err);
/* Checks shapes and dataflow order of every node as graph_from_tflite does. */
cr_status graph_check(graph *g, cr_err *err);

/* Frees everything.  NULL is a no-op. */
void graph_free(graph *g);

#endif
