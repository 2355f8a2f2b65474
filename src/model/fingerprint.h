/*
 * fingerprint.h - what identifies a model folder's files without reading the
 * weights: config.json's bytes and, for every *.safetensors file, its size
 * and a hash of its header (the JSON that names, shapes and places every
 * tensor). Ranks compare these in the preflight (a node with a stale or
 * half-copied checkpoint stops the job before loading), and a run records
 * the overall hash with its results.
 */
#ifndef SL_MODEL_FINGERPRINT_H
#define SL_MODEL_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct sl_model_file_print {
    char name[256];        /* file name inside the folder              */
    uint64_t size;         /* bytes                                    */
    uint64_t header_hash;  /* XXH3 of the safetensors header, or of the
                              whole file for config.json              */
} sl_model_file_print_t;

typedef struct sl_model_fingerprint {
    sl_model_file_print_t *files; /* [num_files]: config.json, then the
                                     safetensors files in name order   */
    size_t num_files;
    uint64_t hash;                /* over all of the above             */
} sl_model_fingerprint_t;

/* Reads DIR's config.json and safetensors headers (a header longer than
 * 100 MB is refused as corrupt). Errors name the file: SL_ERR_NOT_FOUND
 * (no config.json), SL_ERR_IO, SL_ERR_FORMAT. */
sl_status_t sl_model_fingerprint(const char *dir, sl_model_fingerprint_t *fp_p);
void sl_model_fingerprint_release(sl_model_fingerprint_t *fp);

#endif /* SL_MODEL_FINGERPRINT_H */
