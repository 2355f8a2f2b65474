/*
 * checkpoint.h - the safetensors files of a HuggingFace model folder as one
 * set of named tensors.
 *
 * A folder holds either model.safetensors or model.safetensors.index.json
 * whose "weight_map" names, for every tensor, the shard file that holds it.
 * Every file is mapped and validated (safetensors.h); the index must agree
 * with the files (each listed tensor is in its file, no file holds a tensor
 * the index does not list, no tensor is in two files). The loader marks the
 * tensors it uses, and sl_checkpoint_check_unused() names any left over.
 */
#ifndef SL_MODEL_CHECKPOINT_H
#define SL_MODEL_CHECKPOINT_H

#include <stddef.h>

#include "core/status.h"
#include "model/safetensors.h"

typedef struct sl_checkpoint {
    char *dir;
    size_t num_files;
    sl_st_file_t **files;  /* [num_files] */
    unsigned char **used;  /* [num_files][files[i]->num_tensors] */
} sl_checkpoint_t;

/* Opens the safetensors files of DIR. Errors: SL_ERR_NOT_FOUND (no weights),
 * SL_ERR_FORMAT (bad index or file), SL_ERR_IO, SL_ERR_NO_MEMORY. */
sl_status_t sl_checkpoint_open(const char *dir, sl_checkpoint_t **checkpoint_p);

void sl_checkpoint_close(sl_checkpoint_t *checkpoint);

/* The tensor NAME and the file holding it; marks it used. Returns
 * SL_ERR_NOT_FOUND, without logging, when no file has it. */
sl_status_t sl_checkpoint_find(sl_checkpoint_t *checkpoint, const char *name,
                               const sl_st_file_t **file_p, const sl_st_tensor_t **tensor_p);

/* Marks NAME used if present (tensors deliberately ignored). */
void sl_checkpoint_ignore(sl_checkpoint_t *checkpoint, const char *name);

/* Logs every tensor never found or ignored, naming it and its file, and
 * returns SL_ERR_FORMAT if there was any. */
sl_status_t sl_checkpoint_check_unused(const sl_checkpoint_t *checkpoint);

/* Largest-share dtype of the checkpoint's tensors, by bytes. */
sl_dtype_t sl_checkpoint_main_dtype(const sl_checkpoint_t *checkpoint);

#endif /* SL_MODEL_CHECKPOINT_H */
