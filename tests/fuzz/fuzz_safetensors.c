/*
 * fuzz_safetensors.c - libFuzzer target for the safetensors header parser.
 *
 * The input is a whole file; sl_st_parse() must either accept it with every
 * tensor inside the buffer or refuse it, never crash, read out of bounds,
 * leak, or allocate in proportion to a size it has not validated. For an
 * accepted file every tensor's bytes are read once, so ASan sees any offset
 * that escaped the checks.
 *
 * Build and run: tests/fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include "config.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int quiet = -1;
    sl_st_file_t *f;
    volatile unsigned sum = 0;

    if (quiet < 0) {
        quiet = open("/dev/null", O_WRONLY);
        sl_log_set_fd(quiet); /* every input is an error message otherwise */
    }
    if (sl_st_parse("fuzz.safetensors", data, size, &f) != SL_OK)
        return 0;
    for (size_t i = 0; i < f->num_tensors; i++) {
        const sl_st_tensor_t *t = &f->tensors[i];
        const unsigned char *p = sl_st_tensor_data(f, t);
        if (sl_st_find(f, t->name) != t)
            __builtin_trap(); /* lookup must find every tensor */
        for (uint64_t b = 0; b < t->end - t->begin; b++)
            sum += p[b];
    }
    sl_st_close(f);
    (void)sum;
    return 0;
}
