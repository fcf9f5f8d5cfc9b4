/*
 * status.c -- names of statuses and the first-error-wins error buffer.
 * The switch below has no default on purpose: with -Werror=switch the compiler
 * names any status that was added without a name.
 */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

const char *cr_status_str(cr_status s)
{
    switch (s) {
    case CR_OK:
        return "ok";
    case CR_ERR_NOMEM:
        return "nomem";
    case CR_ERR_INVALID:
        return "invalid";
    case CR_ERR_IO:
        return "io";
    case CR_ERR_FORMAT:
        return "format";
    case CR_ERR_UNSUPPORTED:
        return "unsupported";
    case CR_ERR_NOT_FOUND:
        return "not_found";
    case CR_ERR_DB:
        return "db";
    case CR_ERR_NET:
        return "net";
    case CR_ERR_TIMEOUT:
        return "timeout";
    case CR_ERR_CONFLICT:
        return "conflict";
    case CR_ERR_AUTH:
        return "auth";
    case CR_ERR_INTERNAL:
        return "internal";
    case CR_ERR_CANCELLED:
        return "cancelled";
    case CR_ERR_LIMIT:
        return "limit";
    case CR_ERR_CHANGED:
        return "changed";
    }
    return "unknown";
}

cr_status cr_err_vset(cr_err *err, cr_status code, const char *fmt, va_list ap)
{
    if (err == NULL || err->code != CR_OK || err->msg[0] != '\0')
        return code;
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return code;
}

cr_status cr_err_set(cr_err *err, cr_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cr_err_vset(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void cr_err_clear(cr_err *err)
{
    if (err == NULL)
        return;
    err->code = CR_OK;
    err->msg[0] = '\0';
}

const char *cr_err_msg(const cr_err *err)
{
    if (err == NULL)
        return "no error";
    if (err->msg[0] != '\0')
        return err->msg;
    return cr_status_str(err->code);
}
