/* Kernel selection: which sets this processor runs (its features are read
 * once, with cpuid), and the set a context uses (by name, from the
 * environment, or the fastest exact one).  The kernel files only define
 * their sets; this is the one place that knows them all. */
#include "backends/cpu/kernels.h"
#include "backends/cpu/kernels_x86.h"

#include <stdlib.h>
#include <string.h>

typedef struct cpu_sets {
    const inf__cpu_kernels *avx2, *avx512, *fast; /* fast: NULL without AVX2 */
    const char *fast_bf16; /* inf__cpu_kernels_fast_bf16 */
} cpu_sets;

#if defined(__x86_64__) && defined(__GNUC__)

#include <cpuid.h>
#include <pthread.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* The OS's enabled register state (XCR0); needs OSXSAVE. */
static unsigned xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return lo;
}

/* AVX2 and FMA from the compiler's cpu model; F16C and the OS's saving of
 * the YMM state (OSXSAVE + XCR0) from cpuid, which covers what the
 * builtin does not name. */
static int has_avx2_fma_f16c(void) {
    unsigned a, b, c, d;
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma"))
        return 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 29)) || !(c & (1u << 27))) return 0; /* F16C, OSXSAVE */
    return (xcr0() & 6) == 6; /* XMM and YMM state enabled */
}

/* AVX-512 F/BW/VL and the OS's saving of the opmask and ZMM state
 * (after has_avx2_fma_f16c). */
static int has_avx512(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(b & (1u << 16)) || !(b & (1u << 30)) || !(b & (1u << 31))) return 0; /* F, BW, VL */
    return (xcr0() & 0xe6) == 0xe6; /* XMM, YMM, opmask, ZMM_Hi256, Hi16_ZMM */
}

/* AVX512_VNNI (after has_avx512). */
static int has_avx512_vnni(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (c & (1u << 11));
}

/* AVX512_BF16 (after has_avx512). */
static int has_avx512_bf16(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 5));
}

/* 1 when cpuid's vendor string (ebx, edx, ecx of leaf 0) is `name`. */
static int vendor_is(const char name[12]) {
    unsigned a, r[3];
    if (!__get_cpuid(0, &a, &r[0], &r[2], &r[1])) return 0;
    return memcmp(r, name, 12) == 0;
}

/* 1 on Intel processors: their vdpbf16ps issues on one port (32 products
 * per cycle, what two FMA ports give in f32), so the bf16 layer only adds
 * its conversions there: measured on this project's Xeon (AMX-class) VM,
 * bench_ggml BF16 x 256 tokens, 95 GFLOP/s against the exact GEMM's 131.
 * AMD's Zen 4/5 run it at twice the f32 rate (bench/README.md, session 2:
 * 425 vs 270 tok/s Qwen3-0.6B prefill). */
static int is_intel(void) { return vendor_is("GenuineIntel"); }

/* AMX-TILE and AMX-BF16 with the OS's tile state enabled (XCR0 bits 17,
 * 18), and, on Linux, this process's permission to use the tile data
 * (arch_prctl ARCH_REQ_XCOMP_PERM: Linux hands the 8 KB state out per
 * process, on request; the request can fail, e.g. where a sigaltstack
 * is too small for the larger signal frame).  The permission lasts for the
 * process.  INF_CPU_AMX=0 leaves AMX alone (no request made). */
static int amx_bf16_usable(void) {
    unsigned a, b, c, d;
    const char *env = getenv("INF_CPU_AMX");
    if (env && strcmp(env, "0") == 0) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(d & (1u << 24)) || !(d & (1u << 22))) return 0; /* AMX-TILE, AMX-BF16 */
    if ((xcr0() & 0x60000u) != 0x60000u) return 0;       /* XTILECFG, XTILEDATA */
#if defined(__linux__)
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
#else
    return 0;
#endif
}

static cpu_sets sets;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* The paced prefetch's hint (kernels_x86.h): NTA on AMD, T1 elsewhere. */
int inf__cpu_pf_nta;


static void detect(void) {
    inf__cpu_pf_nta = vendor_is("AuthenticAMD");
    if (!has_avx2_fma_f16c()) return;
    sets.avx2 = &inf__cpu_avx2_set;
    if (has_avx512()) sets.avx512 = inf__cpu_avx512_build(sets.avx2);
    /* fast: the fastest exact set, then each rounding the processor has the
     * instructions for, one layer over the other (each falls back on the
     * one beneath for what it does not take). */
    const inf__cpu_kernels *f = sets.avx512 ? sets.avx512 : sets.avx2;
    if (sets.avx512 && has_avx512_bf16() && !is_intel()) {
        f = inf__cpu_bf16_build(f);
        sets.fast_bf16 = "avx512bf16";
    }
    f = inf__cpu_q8_build(f);
    if (sets.avx512 && has_avx512_vnni()) f = inf__cpu_vnni_build(f);
    /* BF16 at 5+ tokens on the tile unit, over everything else */
    if (sets.avx512 && has_avx512_bf16() && amx_bf16_usable()) {
        f = inf__cpu_amx_build(f);
        sets.fast_bf16 = "amx";
    }
    sets.fast = f;
}

static const cpu_sets *available(void) {
    pthread_once(&once, detect);
    return &sets;
}

#else /* not x86-64 GCC/clang: the reference kernels only */

static const cpu_sets *available(void) {
    static const cpu_sets none;
    return &none;
}

#endif

const inf__cpu_kernels *inf__cpu_kernels_avx2(void) { return available()->avx2; }
const inf__cpu_kernels *inf__cpu_kernels_avx512(void) { return available()->avx512; }
const inf__cpu_kernels *inf__cpu_kernels_fast(void) {
    const inf__cpu_kernels *k = available()->fast;
    return k ? k : &inf__cpu_kernels_ref_fast;
}

const char *inf__cpu_kernels_fast_bf16(void) { return available()->fast_bf16; }

const inf__cpu_kernels *inf__cpu_kernels_select(const char *name) {
    const cpu_sets *s = available();
    const inf__cpu_kernels *k = NULL;
    if (name && strcmp(name, "reference") == 0) return &inf__cpu_kernels_ref;
    if (!name || !name[0] || strcmp(name, "avx512") == 0) k = s->avx512;
    if (!k) k = s->avx2;
    return k ? k : &inf__cpu_kernels_ref;
}

const inf__cpu_kernels *inf__cpu_kernels_from_env(void) {
    const char *ref = getenv("INF_CPU_REFERENCE");
    if (ref && ref[0] && strcmp(ref, "0") != 0) return &inf__cpu_kernels_ref;
    return inf__cpu_kernels_select(getenv("INF_CPU_KERNELS"));
}
