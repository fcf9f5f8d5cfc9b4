/*
 * paths.c -- model file lookup.
 */
#include "core/paths.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef CREASE_SHARE_DIR /* set by CMake to ${CMAKE_INSTALL_PREFIX}/share/crease */
#define CREASE_SHARE_DIR "/usr/local/share/crease"
#endif

cr_status cr_find_model(const cr_config *cfg, const char *name, char *out, size_t cap, cr_err *err)
{
    if (cfg->models_dir[0] != '\0') {
        snprintf(out, cap, "%s/%s", cfg->models_dir, name);
        if (access(out, R_OK) == 0)
            return CR_OK;
        return cr_err_set(err, CR_ERR_NOT_FOUND,
                          "model %s not found in CREASE_MODELS_DIR=%s (run scripts/fetch-models)",
                          name, cfg->models_dir);
    }
    snprintf(out, cap, "models/%s", name);
    if (access(out, R_OK) == 0)
        return CR_OK;
    /* Beside a build tree: build/crease -> ./models of the checkout, wherever the
     * command is run from. */
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            snprintf(out, cap, "%s/../models/%s", exe, name);
            if (access(out, R_OK) == 0)
                return CR_OK;
        }
    }
    snprintf(out, cap, "%s/models/%s", CREASE_SHARE_DIR, name);
    if (access(out, R_OK) == 0)
        return CR_OK;
    return cr_err_set(err, CR_ERR_NOT_FOUND,
                      "model %s not found in ./models, beside the crease binary or in %s/models "
                      "(run scripts/fetch-models or set CREASE_MODELS_DIR)",
                      name, CREASE_SHARE_DIR);
}
