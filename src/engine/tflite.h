/*
 * tflite.h -- a reader for TensorFlow Lite model files (.tflite), enough for
 * MediaPipe's BlazePose models (DESIGN.md §7).
 *
 * A .tflite file is a FlatBuffer of TFLite's schema.fbs (the current schema, with
 * DENSIFY and 32-bit builtin codes).  This reader walks the FlatBuffer directly:
 * every offset, vtable, vector length and string is bounds-checked against the
 * byte range before it is read, so any byte string is safe to parse (the file is
 * untrusted input).  Malformed bytes are CR_ERR_FORMAT with a message saying where;
 * a well-formed file using something this reader does not know (several
 * subgraphs, rank > TFLITE_MAX_RANK, a custom operator) is CR_ERR_UNSUPPORTED.
 *
 * What is read (first subgraph only, the one TFLite runs):
 *   tensors   name, shape, element type, constant bytes (a view into the file
 *             bytes, possibly unaligned: read with memcpy), sparsity parameters
 *   operators builtin code, input/output tensor indices (-1 = optional, absent),
 *             and the options this project needs (see tflite_options)
 *   the subgraph's inputs and outputs.
 * The reader does not interpret values: fp16 dequantization and densification of
 * sparse constants happen when a graph is built from the model (graph.h).
 *
 * Ownership: tflite_model_parse borrows `bytes` (they must outlive the model);
 * tflite_model_load reads a file into a buffer the model owns.  A model is
 * immutable after loading and may be read from several threads.
 */
#ifndef CR_ENGINE_TFLITE_H
#define CR_ENGINE_TFLITE_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

/* The highest tensor rank accepted (the pose models use 1..4). */
#define TFLITE_MAX_RANK 4
/* Most inputs or outputs of one operator accepted (CONCATENATION in the detector has 3). */
#define TFLITE_MAX_OP_IO 16
/* Most elements in a RESHAPE's new_shape option. */
#define TFLITE_MAX_NEW_SHAPE 8

/* TensorType values of schema.fbs (compat: the file format's numbers). */
typedef enum tflite_type {
    TFLITE_FLOAT32 = 0,
    TFLITE_FLOAT16 = 1,
    TFLITE_INT32 = 2,
    TFLITE_UINT8 = 3,
    TFLITE_INT64 = 4,
    TFLITE_INT8 = 9,
} tflite_type;

/* BuiltinOperator values of schema.fbs used by the pose models (compat: file format). */
typedef enum tflite_builtin {
    TFLITE_OP_ADD = 0,
    TFLITE_OP_CONCATENATION = 2,
    TFLITE_OP_CONV_2D = 3,
    TFLITE_OP_DEPTHWISE_CONV_2D = 4,
    TFLITE_OP_DEPTH_TO_SPACE = 5,
    TFLITE_OP_DEQUANTIZE = 6,
    TFLITE_OP_LOGISTIC = 14,
    TFLITE_OP_MAX_POOL_2D = 17,
    TFLITE_OP_RESHAPE = 22,
    TFLITE_OP_RESIZE_BILINEAR = 23,
    TFLITE_OP_PAD = 34,
    TFLITE_OP_PADV2 = 60,
    TFLITE_OP_DENSIFY = 124,
} tflite_builtin;

/* Padding and ActivationFunctionType of schema.fbs (compat: file format). */
enum { TFLITE_PADDING_SAME = 0, TFLITE_PADDING_VALID = 1 };
enum {
    TFLITE_ACT_NONE = 0,
    TFLITE_ACT_RELU = 1,
    TFLITE_ACT_RELU_N1_TO_1 = 2,
    TFLITE_ACT_RELU6 = 3,
    TFLITE_ACT_TANH = 4,
    TFLITE_ACT_SIGN_BIT = 5,
};

/* The union of the builtin options read, with schema.fbs defaults when absent. */
typedef struct tflite_options {
    int padding;                /* Conv2D, DepthwiseConv2D, Pool2D */
    int stride_w, stride_h;     /* Conv2D, DepthwiseConv2D, Pool2D */
    int dilation_w, dilation_h; /* Conv2D, DepthwiseConv2D (default 1) */
    int depth_multiplier;       /* DepthwiseConv2D */
    int filter_w, filter_h;     /* Pool2D */
    int activation;             /* fused activation, TFLITE_ACT_* */
    int axis;                   /* Concatenation */
    int align_corners;          /* ResizeBilinear */
    int half_pixel_centers;     /* ResizeBilinear */
    int block_size;             /* DepthToSpace */
    int n_new_shape;            /* Reshape: -1 when the option is absent */
    int new_shape[TFLITE_MAX_NEW_SHAPE];
} tflite_options;

/* DimensionMetadata of a sparse tensor.  Index vectors are views into the file
 * (elements of `elem_size` bytes: 1 Uint8Vector, 2 Uint16Vector, 4 Int32Vector). */
typedef struct tflite_index_vec {
    const uint8_t *data;
    size_t count;
    int elem_size;
} tflite_index_vec;

typedef struct tflite_dim_meta {
    int sparse_csr;                     /* 0 DENSE, 1 SPARSE_CSR */
    int dense_size;                     /* DENSE only */
    tflite_index_vec segments, indices; /* SPARSE_CSR only */
} tflite_dim_meta;

typedef struct tflite_sparsity {
    int n_order;
    int traversal_order[TFLITE_MAX_RANK];
    int n_block_map;
    int n_dims;
    tflite_dim_meta dims[TFLITE_MAX_RANK];
} tflite_sparsity;

typedef struct tflite_tensor {
    char *name;                /* owned, NUL-terminated, never NULL */
    int rank;                  /* 0..TFLITE_MAX_RANK */
    int dims[TFLITE_MAX_RANK]; /* each >= 1 */
    int type;                  /* tflite_type */
    const uint8_t *data;       /* constant bytes or NULL (no buffer / empty buffer) */
    size_t size;               /* bytes at `data` */
    tflite_sparsity *sparsity; /* owned, NULL for dense tensors */
} tflite_tensor;

typedef struct tflite_op {
    int code; /* builtin operator (tflite_builtin or any other BuiltinOperator value) */
    int n_inputs, n_outputs;
    int inputs[TFLITE_MAX_OP_IO];  /* tensor indices, -1 = optional input absent */
    int outputs[TFLITE_MAX_OP_IO]; /* tensor indices */
    tflite_options opt;
} tflite_op;

typedef struct tflite_model {
    int n_tensors;
    tflite_tensor *tensors;
    int n_ops;
    tflite_op *ops;
    int n_inputs, n_outputs;
    int inputs[TFLITE_MAX_OP_IO];
    int outputs[TFLITE_MAX_OP_IO];
    uint8_t *owned; /* file bytes when loaded by tflite_model_load */
} tflite_model;

/* Parses `n` bytes.  On success *out is a new model borrowing `bytes`; on failure
 * *out is NULL, nothing leaks, and err says what is wrong and where. */
cr_status tflite_model_parse(const void *bytes, size_t n, tflite_model **out, cr_err *err);

/* Reads and parses a file.  A missing file is CR_ERR_NOT_FOUND, a read error CR_ERR_IO. */
cr_status tflite_model_load(const char *path, tflite_model **out, cr_err *err);

/* The operator's name from schema.fbs ("CONV_2D"), or "?" for codes not listed above. */
const char *tflite_op_name(int code);

/* Frees everything.  NULL is a no-op. */
void tflite_model_free(tflite_model *m);

#endif
