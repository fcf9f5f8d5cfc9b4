/*
 * cpu_kernels_amx.c -- the matrix product of the "cpu-amx" engine (cpu_kernels.h) on
 * Intel's AMX tiles.  Compiled with -mamx-tile -mamx-bf16 -mavx512f -mavx512bf16
 * (src/engine/CMakeLists.txt) and called only where the CPU has AMX-BF16 and
 * AVX512-BF16 and the kernel has granted this process the tile state
 * (cpu_kernels_amx_usable), and only for the shapes where it pays (cpu_amx_pays; the
 * others take the AVX-512 kernel).
 *
 * WHY.  One TDPBF16PS multiplies a 16x32 tile of bfloat16 inputs by a 32x16 tile of
 * weights into 16x16 float32 sums: 8192 multiply-adds.  Measured on a Xeon with AMX,
 * one core: ~1.9 T multiply-adds a second with everything in the tiles, against ~0.1 T
 * for float32 FMAs on AVX-512.
 *
 * PRECISION.  bfloat16 has 8 bits of mantissa.  Rounding the models' inputs and weights
 * to it moved landmarks by 0.8-2 % of the person's box on the vtest frames (the quality
 * gate is 0.5 %), so each float32 value v is carried as the sum of two bfloat16 ones,
 * hi = round(v) and lo = round(v - hi), and a product as three: xhi.whi + xlo.whi +
 * xhi.wlo (the fourth, xlo.wlo, is below 2^-16 of it).  That is 16 bits of mantissa:
 * the outputs stay within ~1e-5 of the float32 ones per product, 1.9e-4 of the
 * landmarks' range on the full model with noise input (engine_test_looseness), and the
 * landmarks within 0.003 % (static) to 0.1 % (video, tracking feeds small differences
 * forward) of the box of the float32 engines' (test_blazepose_engines).
 *
 * LAYOUT.  Tiles 0-3 hold the sums of a 32-row x 32-channel block (rows 0-15 and
 * 16-31 of two 16-channel panels), tiles 4-5 the two 16-row input tiles of one input
 * block, tiles 6-7 the two panels' weight tiles.  The three products run one after the
 * other over all input blocks (`term`), each TDPBF16PS into one of four independent sums.
 *   inputs   a block of 32 rows is split and converted once into the caller's work
 *            buffer, tile by tile: [k/32][hi, lo][32 rows][32], each tile 1 kB in a row
 *            (rows past m and columns past k are zeros);
 *   weights  packed at load (cpu_amx_pack, below) as [n/16][k/32][hi, lo][16
 *            pairs][16 channels][2]: each tile 1 kB in a row, in the pairs TDPBF16PS
 *            reads (k padded to 32 with zeros);
 *   outputs  each sum tile is stored to a 1 kB buffer on the stack, then the bias (or
 *            the output's current value, with `accumulate`) is added and the clamp
 *            applied 16 floats at a time, masked to the rows and channels that exist.
 * All of them 64-byte aligned (ENGINE_ALIGN): unaligned tile rows straddle cache lines,
 * and made the full landmark model 14 % slower.  The tile configuration is loaded at
 * every call: it is per thread, and an engine may run on any thread (LDTILECFG costs
 * ~50 ns).
 */
#include "engine/cpu_kernels.h"
#include "engine/cpu_simd_avx512.h"

#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TILE_ROWS 16
#define TILE_K 32                       /* bfloat16 values per tile row */
#define TILE_WORDS (TILE_ROWS * TILE_K) /* bfloat16 values per tile: 1 kB */

/* ---- the packed weights (see LAYOUT) ------------------------------------------ */

/* k padded to whole tile rows */
static int amx_kp(int k)
{
    return (k + TILE_K - 1) / TILE_K * TILE_K;
}

/* 32-bit words of the tiles: per 16-channel panel and 32 inputs, two 1 kB tiles (hi,
 * lo) of bfloat16 pairs. */
static size_t amx_tiles_size(int n, int k)
{
    return (size_t)((n + CPU_PANEL - 1) / CPU_PANEL) * (size_t)(amx_kp(k) / TILE_K) * 2 *
           (TILE_WORDS / 2);
}

int cpu_amx_pays(int k, int n)
{
    /* Measured per shape of the pose models (Xeon with AMX, one core, 64-byte aligned
     * buffers): from 16 rows up, the tiles take 0.34-0.7x the float32 kernel's time from
     * 24 inputs and 48 outputs up; below 24 inputs or outputs their fixed costs (the
     * split of the inputs, 32-row blocks, k and n padded to 32) make them up to 5x
     * slower.  With 24 or 32 outputs and 128 inputs or more, hot caches alone had the
     * float32 kernel ahead, but inside the full landmark model (the projections of its
     * chains: 144 -> 24, 144 -> 32, 192 -> 32) the tiles took 0.86-0.91x its time.  Rows
     * are not asked: a product of fewer (the models' last 2x2 and 1x1 layers) takes
     * ~10 us more a frame on the tiles, and keeping a float32 copy of every packed weight
     * for it took 32 MB a process. */
    return k >= 24 && n >= 24;
}

size_t cpu_amx_packed_size(int n, int k)
{
    return cpu_amx_pays(k, n) ? amx_tiles_size(n, k) : cpu_packed_size(n, k);
}

size_t cpu_amx_work_size(int k)
{
    return (size_t)2 * 32 * amx_kp(k) * sizeof(uint16_t); /* 32 rows, hi and lo */
}

/* float32 -> bfloat16, rounded to nearest even (as VCVTNE2PS2BF16); NaN stays NaN. */
static uint16_t bf16_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* The split of split_store below, one value at a time: hi = f rounded to bfloat16, lo = f -
 * hi rounded. */
static void bf16_split(float f, uint16_t *hi, uint16_t *lo)
{
    *hi = bf16_of(f);
    uint32_t u = (uint32_t)*hi << 16;
    float h;
    memcpy(&h, &u, sizeof h);
    *lo = bf16_of(f - h);
}

void cpu_amx_pack(const float *w, size_t ldw, int n, int k, void *vout)
{
    if (!cpu_amx_pays(k, n)) {
        cpu_pack_weights(w, ldw, n, k, vout);
        return;
    }
    uint16_t *out = vout;
    int panels = (n + CPU_PANEL - 1) / CPU_PANEL, kp = amx_kp(k);
    /* [panel][k/32][hi, lo][16 pairs][16 channels][2]: in tile (panel t, block b), pair p
     * of channel j holds W[16t + j][32b + 2p] and W[16t + j][32b + 2p + 1], zero past n
     * or k */
    for (int t = 0; t < panels; t++)
        for (int kk = 0; kk < kp; kk++)
            for (int j = 0; j < CPU_PANEL; j++) {
                int row = t * CPU_PANEL + j;
                float v = row < n && kk < k ? w[(size_t)row * ldw + kk] : 0.0f;
                size_t tile = ((size_t)t * (kp / TILE_K) + kk / TILE_K) * 2 * TILE_WORDS;
                size_t at = ((size_t)(kk % TILE_K) / 2 * CPU_PANEL + j) * 2 + kk % 2;
                bf16_split(v, &out[tile + at], &out[tile + TILE_WORDS + at]);
            }
}

/* LDTILECFG's 64-byte operand (palette 1). */
typedef struct tile_config {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) tile_config;

static void tiles_configure(void)
{
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = TILE_ROWS;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
}

/* 32 floats v0, v1 split in two (see PRECISION) and stored as two tile rows: hi =
 * v rounded to bfloat16 by the conversion itself (to nearest even), lo = v - hi (exact in
 * float32, |lo| <= 2^-8 |v|), rounded to bfloat16 in turn.  hi is widened back to float32
 * by a shift; rounding in integer arithmetic first, as bf16_split does, gives the same
 * values with 1.2x the time of the whole product for 144 -> 24 inputs to outputs
 * (measured in isolation on a Xeon with AMX): the split is most of the cost of the
 * narrow products. */
static void split_store(__m512 v0, __m512 v1, __m512i *hi, __m512i *lo)
{
    __m512i h = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
    __m512 h0 = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(h)), 16));
    __m512 h1 = _mm512_castsi512_ps(
        _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(h, 1)), 16));
    _mm512_storeu_si512(hi, h);
    _mm512_storeu_si512(lo,
                        (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(v1, h1), _mm512_sub_ps(v0, h0)));
}

/* Rows [m0, m0 + rows) of x as the hi and lo bfloat16 input tiles in work (see
 * LAYOUT): block kb's hi tile of rows 16i.. at work + ((2kb + 0)*32 + 16i)*32, its lo
 * tile at ((2kb + 1)*32 + 16i)*32; rows past the last, up to `pad_rows` (16 or 32),
 * are zeros. */
static void convert_rows(const cpu_gemm_args *a, int m0, int rows, int pad_rows, int kp,
                         uint16_t *work)
{
    for (int k0 = 0; k0 < kp; k0 += TILE_K) {
        uint16_t *hi_rows = work + (size_t)(k0 / TILE_K) * 2 * 32 * TILE_K;
        __mmask16 m0k = tail_mask(a->k - k0), m1k = tail_mask(a->k - k0 - 16);
        const float *x = a->x + (size_t)m0 * a->ldx + k0;
        for (int r = 0; r < rows; r++, x += a->ldx)
            split_store(_mm512_maskz_loadu_ps(m0k, x), _mm512_maskz_loadu_ps(m1k, x + 16),
                        (__m512i *)(hi_rows + r * TILE_K),
                        (__m512i *)(hi_rows + 32 * TILE_K + r * TILE_K));
        for (int r = rows; r < pad_rows; r++) {
            _mm512_storeu_si512(hi_rows + r * TILE_K, _mm512_setzero_si512());
            _mm512_storeu_si512(hi_rows + 32 * TILE_K + r * TILE_K, _mm512_setzero_si512());
        }
    }
}

/* Adds the bias (or y's values) to the 16 x 16 sums s, clamps, and stores rows < rows
 * of the channels in mask into y (row r at y + r*ldy). */
static void store_tile(const cpu_gemm_args *a, const float *s, const float *bias, float *y,
                       int rows, __mmask16 mask)
{
    __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi), b = _mm512_loadu_ps(bias);
    for (int r = 0; r < rows; r++) {
        float *yr = y + (size_t)r * a->ldy;
        __m512 base = a->accumulate ? _mm512_maskz_loadu_ps(mask, yr) : b;
        __m512 v = _mm512_add_ps(_mm512_load_ps(s + r * 16), base);
        _mm512_mask_storeu_ps(yr, mask, clamp16(v, lo, hi));
    }
}

/* One product term over all input blocks, into the sums of a 32-row x 32-channel block
 * (tiles 0, 1: rows 0-15 of panels t, t+1; tiles 2, 3: rows 16-31): inputs from xs
 * (block kb's 32 rows at xs + kb*xstep), weights from w0, w1 (block kb at + kb*wstep).
 * TWO: rows 16-31 exist; PAIR: panel t+1 exists.  Four independent sums, so each
 * TDPBF16PS overlaps the next and the tile loads. */
static ALWAYS_INLINE void term(const uint16_t *xs, size_t xstep, const uint16_t *w0,
                               const uint16_t *w1, size_t wstep, int kblocks, int TWO, int PAIR)
{
    for (int kb = 0; kb < kblocks; kb++) {
        const uint16_t *x = xs + (size_t)kb * xstep;
        _tile_loadd(4, x, 64);
        _tile_loadd(6, w0 + (size_t)kb * wstep, 64);
        _tile_dpbf16ps(0, 4, 6);
        if (PAIR) {
            _tile_loadd(7, w1 + (size_t)kb * wstep, 64);
            _tile_dpbf16ps(1, 4, 7);
        }
        if (TWO) {
            _tile_loadd(5, x + TILE_WORDS, 64);
            _tile_dpbf16ps(2, 5, 6);
            if (PAIR)
                _tile_dpbf16ps(3, 5, 7);
        }
    }
}

/* The three terms (see LAYOUT) of a 32 x 32 block. */
static ALWAYS_INLINE void block(const uint16_t *work, const uint16_t *b0, const uint16_t *b1,
                                int kblocks, int TWO, int PAIR)
{
    const size_t xstep = 2 * 32 * TILE_K, wstep = 2 * TILE_WORDS;
    term(work, xstep, b0, b1, wstep, kblocks, TWO, PAIR);                           /* xhi.whi */
    term(work + 32 * TILE_K, xstep, b0, b1, wstep, kblocks, TWO, PAIR);             /* xlo.whi */
    term(work, xstep, b0 + TILE_WORDS, b1 + TILE_WORDS, wstep, kblocks, TWO, PAIR); /* xhi.wlo */
}

void cpu_gemm_amx(const cpu_gemm_args *a)
{
    const int kp = amx_kp(a->k), kblocks = kp / TILE_K;
    const int panels = (a->n + CPU_PANEL - 1) / CPU_PANEL;
    const uint16_t *w = a->w;
    const size_t panel_stride = (size_t)kblocks * 2 * TILE_WORDS; /* bfloat16 per panel */
    uint16_t *work = a->work;
    float sums[4][TILE_ROWS * 16] __attribute__((aligned(64)));
    tiles_configure();
    for (int m0 = 0; m0 < a->m; m0 += 32) {
        int rows = a->m - m0 < 32 ? a->m - m0 : 32;
        int two = rows > TILE_ROWS;
        convert_rows(a, m0, rows, two ? 32 : TILE_ROWS, kp, work);
        for (int t = 0; t < panels; t += 2) {
            const uint16_t *b0 = w + (size_t)t * panel_stride, *b1 = b0 + panel_stride;
            int pair = t + 1 < panels;
            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            if (two && pair)
                block(work, b0, b1, kblocks, 1, 1);
            else if (two)
                block(work, b0, b1, kblocks, 1, 0);
            else if (pair)
                block(work, b0, b1, kblocks, 0, 1);
            else
                block(work, b0, b1, kblocks, 0, 0);
            _tile_stored(0, sums[0], 64);
            _tile_stored(1, sums[1], 64);
            _tile_stored(2, sums[2], 64);
            _tile_stored(3, sums[3], 64);
            float *y = a->y + (size_t)m0 * a->ldy + (size_t)t * CPU_PANEL;
            float *y16 = y + (size_t)TILE_ROWS * a->ldy;
            const float *bias = a->bias + (size_t)t * CPU_PANEL;
            int r0 = rows < TILE_ROWS ? rows : TILE_ROWS;
            __mmask16 k0 = tail_mask(a->n - t * CPU_PANEL),
                      k1 = tail_mask(a->n - (t + 1) * CPU_PANEL);
            store_tile(a, sums[0], bias, y, r0, k0);
            if (two)
                store_tile(a, sums[2], bias, y16, rows - TILE_ROWS, k0);
            if (pair) {
                store_tile(a, sums[1], bias + CPU_PANEL, y + CPU_PANEL, r0, k1);
                if (two)
                    store_tile(a, sums[3], bias + CPU_PANEL, y16 + CPU_PANEL, rows - TILE_ROWS, k1);
            }
        }
    }
}

/* ---- may this process use the tiles? ------------------------------------------ */

/* Linux's arch_prctl request for the AMX tile data state (asm/prctl.h, Linux 5.16). */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_probe(void)
{
    unsigned a, b, c, d;
    /* CPUID.(7,0):EDX bit 22 AMX-BF16, bit 24 AMX-TILE; CPUID.(7,1):EAX bit 5 AVX512-BF16 */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 22)) || !(d & (1u << 24)))
        return 0;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5)))
        return 0;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f"))
        return 0;
    /* The kernel hands out the 8 kB tile state only on request; refused (an older
     * kernel, a hypervisor without it), the first tile instruction would fault. */
    return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

const cpu_kernels *cpu_kernels_amx_usable(void)
{
    /* 0 not asked yet, 1 usable, 2 not; asking twice is harmless, so no lock */
    static _Atomic int state;
    int s = atomic_load(&state);
    if (s == 0) {
        s = amx_probe() ? 1 : 2;
        atomic_store(&state, s);
    }
    return s == 1 ? &cpu_kernels_amx : NULL;
}
