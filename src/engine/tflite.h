/*
 * tflite.h -- a reader for TensorFlow Lite model files (.tflite), enough for
 * MediaPipe's BlazePose models (DESIGN.md §7).
 *
 * Internal to the engine module (see the names in engine.h); other modules use engine.h.
 *
 * A .tflite file is a FlatBuffer of TFLite's schema.fbs (the current schema, with
 * DENSIFY and 32-bit builtin codes).  This reader walks the FlatBuffer directly:
 * every offset, vtable, vector length and string is bounds-checked against the
 * byte range before it is read, so any byte string is safe to parse (the file is
 * untrusted input).  Malformed bytes are CR_ERR_FORMAT with a message saying where;
 * a well-formed file using something this reader does not know (several
 * subgraphs, rank > ENGINE_TFLITE_MAX_RANK, a custom operator) is CR_ERR_UNSUPPORTED.
 *
 * What is read (first subgraph only, the one TFLite runs):
 *   tensors   name, shape, element type, constant bytes (a view into the file
 *             bytes, possibly unaligned: read with memcpy), sparsity parameters
 *   operators builtin code, input/output tensor indices (-1 = optional, absent),
 *             and the options this project needs (see engine_tflite_options)
 *   the subgraph's inputs and outputs.
 * The reader does not interpret values: fp16 dequantization and densification of
 * sparse constants happen when a graph is built from the model (graph.h).
 *
 * Ownership: engine_tflite_model_parse borrows `bytes` (they must outlive the model);
 * engine_tflite_model_load reads a file into a buffer the model owns.  A model is
 * immutable after loading and may be read from several threads.
 */
#ifndef CR_ENGINE_TFLITE_H
#define CR_ENGINE_TFLITE_H

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

/* The highest tensor rank accepted (the pose models use 1..4). */
#define ENGINE_TFLITE_MAX_RANK 4
/* Most inputs or outputs of one operator accepted (CONCATENATION in the detector has 3). */
#define ENGINE_TFLITE_MAX_OP_IO 16
/* Most elements in a RESHAPE's new_shape option. */
#define ENGINE_TFLITE_MAX_NEW_SHAPE 8

/* TensorType values of schema.fbs (compat: the file format's numbers). */
typedef enum engine_tflite_type {
    ENGINE_TFLITE_FLOAT32 = 0,
    ENGINE_TFLITE_FLOAT16 = 1,
    ENGINE_TFLITE_INT32 = 2,
    ENGINE_TFLITE_UINT8 = 3,
    ENGINE_TFLITE_INT64 = 4,
    ENGINE_TFLITE_INT8 = 9,
} engine_tflite_type;

/* BuiltinOperator values of schema.fbs used by the pose models (compat: file format). */
typedef enum engine_tflite_builtin {
    ENGINE_TFLITE_OP_ADD = 0,
    ENGINE_TFLITE_OP_CONCATENATION = 2,
    ENGINE_TFLITE_OP_CONV_2D = 3,
    ENGINE_TFLITE_OP_DEPTHWISE_CONV_2D = 4,
    ENGINE_TFLITE_OP_DEPTH_TO_SPACE = 5,
    ENGINE_TFLITE_OP_DEQUANTIZE = 6,
    ENGINE_TFLITE_OP_LOGISTIC = 14,
    ENGINE_TFLITE_OP_MAX_POOL_2D = 17,
    ENGINE_TFLITE_OP_RESHAPE = 22,
    ENGINE_TFLITE_OP_RESIZE_BILINEAR = 23,
    ENGINE_TFLITE_OP_PAD = 34,
    ENGINE_TFLITE_OP_PADV2 = 60,
    ENGINE_TFLITE_OP_DENSIFY = 124,
} engine_tflite_builtin;

/* Padding and ActivationFunctionType of schema.fbs (compat: file format). */
enum { ENGINE_TFLITE_PADDING_SAME = 0, ENGINE_TFLITE_PADDING_VALID = 1 };
enum {
    ENGINE_TFLITE_ACT_NONE = 0,
    ENGINE_TFLITE_ACT_RELU = 1,
    ENGINE_TFLITE_ACT_RELU_N1_TO_1 = 2,
    ENGINE_TFLITE_ACT_RELU6 = 3,
    ENGINE_TFLITE_ACT_TANH = 4,
    ENGINE_TFLITE_ACT_SIGN_BIT = 5,
};

/* The union of the builtin options read, with schema.fbs defaults when absent. */
typedef struct engine_tflite_options {
    int padding;                /* Conv2D, DepthwiseConv2D, Pool2D */
    int stride_w, stride_h;     /* Conv2D, DepthwiseConv2D, Pool2D */
    int dilation_w, dilation_h; /* Conv2D, DepthwiseConv2D (default 1) */
    int depth_multiplier;       /* DepthwiseConv2D */
    int filter_w, filter_h;     /* Pool2D */
    int activation;             /* fused activation, ENGINE_TFLITE_ACT_* */
    int axis;                   /* Concatenation */
    int align_corners;          /* ResizeBilinear */
    int half_pixel_centers;     /* ResizeBilinear */
    int block_size;             /* DepthToSpace */
    int n_new_shape;            /* Reshape: -1 when the option is absent */
    int new_shape[ENGINE_TFLITE_MAX_NEW_SHAPE];
} engine_tflite_options;

/* DimensionMetadata of a sparse tensor.  Index vectors are views into the file
 * (elements of `elem_size` bytes: 1 Uint8Vector, 2 Uint16Vector, 4 Int32Vector). */
typedef struct engine_tflite_index_vec {
    const uint8_t *data;
    size_t count;
    int elem_size;
} engine_tflite_index_vec;

typedef struct engine_tflite_dim_meta {
    int sparse_csr;                            /* 0 DENSE, 1 SPARSE_CSR */
    int dense_size;                            /* DENSE only */
    engine_tflite_index_vec segments, indices; /* SPARSE_CSR only */
} engine_tflite_dim_meta;

typedef struct engine_tflite_sparsity {
    int n_order;
    int traversal_order[ENGINE_TFLITE_MAX_RANK];
    int n_block_map;
    int n_dims;
    engine_tflite_dim_meta dims[ENGINE_TFLITE_MAX_RANK];
} engine_tflite_sparsity;

typedef struct engine_tflite_tensor {
    char *name;                       /* owned, NUL-terminated, never NULL */
    int rank;                         /* 0..ENGINE_TFLITE_MAX_RANK */
    int dims[ENGINE_TFLITE_MAX_RANK]; /* each >= 1 */
    int type;                         /* engine_tflite_type */
    const uint8_t *data;              /* constant bytes or NULL (no buffer / empty buffer) */
    size_t size;                      /* bytes at `data` */
    engine_tflite_sparsity *sparsity; /* owned, NULL for dense tensors */
} engine_tflite_tensor;

typedef struct engine_tflite_op {
    int code; /* builtin operator (engine_tflite_builtin or any other BuiltinOperator value) */
    int n_inputs, n_outputs;
    int inputs[ENGINE_TFLITE_MAX_OP_IO];  /* tensor indices, -1 = optional input absent */
    int outputs[ENGINE_TFLITE_MAX_OP_IO]; /* tensor indices */
    engine_tflite_options opt;
} engine_tflite_op;

typedef struct engine_tflite_model {
    int n_tensors;
    engine_tflite_tensor *tensors;
    int n_ops;
    engine_tflite_op *ops;
    int n_inputs, n_outputs;
    int inputs[ENGINE_TFLITE_MAX_OP_IO];
    int outputs[ENGINE_TFLITE_MAX_OP_IO];
    uint8_t *owned; /* file bytes when loaded by engine_tflite_model_load */
} engine_tflite_model;

/* Parses `n` bytes.  On success *out is a new model borrowing `bytes`; on failure
 * *out is NULL, nothing leaks, and err says what is wrong and where. */
cr_status engine_tflite_model_parse(const void *bytes, size_t n, engine_tflite_model **out,
                                    cr_err *err);

/* Reads and parses a file.  A missing file is CR_ERR_NOT_FOUND, a read error CR_ERR_IO. */
cr_status engine_tflite_model_load(const char *path, engine_tflite_model **out, cr_err *err);

/* The operator's name from schema.fbs ("CONV_2D"), or "?" for codes not listed above. */
const char *engine_tflite_op_name(int code);

/* Frees everything.  NULL is a no-op. */
void engine_tflite_model_free(engine_tflite_model *m);

#endif
