/*
 * test_tmpfile.c -- named temporary files (core/tmpfile.h): where they are made
 * ($TMPDIR, else /tmp), their mode, what writes and appends leave in them, that
 * removal deletes them, and the errors: a TMPDIR that does not exist, a TMPDIR too
 * long for a path (falls back to /tmp).
 */
#include "check.h"
#include "core/tmpfile.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    char *buf = malloc(1 << 20);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

int main(void)
{
    char dir[] = "/tmp/crease-test-tmpfile-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    setenv("TMPDIR", dir, 1);

    cr_tmpfile a = {0}, b = {0};
    cr_err err = {0};
    CHECK(cr_tmpfile_create(&a, "t-a-", &err) == CR_OK);
    CHECK(strncmp(a.path, dir, strlen(dir)) == 0 && strstr(a.path, "/t-a-") != NULL);
    struct stat sb;
    CHECK(stat(a.path, &sb) == 0 && (sb.st_mode & 0777) == 0600 && sb.st_size == 0);
    /* more than one stdio buffer and more than one copy block */
    char big[200000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    CHECK(cr_tmpfile_write(&a, big, sizeof big, &err) == CR_OK);
    CHECK(cr_tmpfile_write(&a, "", 0, &err) == CR_OK);
    CHECK(cr_tmpfile_create(&b, "t-b-", &err) == CR_OK);
    CHECK(strcmp(a.path, b.path) != 0);
    CHECK(cr_tmpfile_write(&b, "[", 1, &err) == CR_OK);
    CHECK(cr_tmpfile_append_file(&b, &a, &err) == CR_OK);
    CHECK(cr_tmpfile_write(&b, "]", 1, &err) == CR_OK);
    /* a stays appendable after being copied: its position is back at its end */
    CHECK(cr_tmpfile_write(&a, "z", 1, &err) == CR_OK);
    CHECK(cr_tmpfile_flush(&a, &err) == CR_OK && cr_tmpfile_flush(&b, &err) == CR_OK);
    size_t n = 0;
    char *got = slurp(b.path, &n);
    CHECK(got != NULL && n == sizeof big + 2 && got[0] == '[' && got[n - 1] == ']' &&
          memcmp(got + 1, big, sizeof big) == 0);
    free(got);
    got = slurp(a.path, &n);
    CHECK(got != NULL && n == sizeof big + 1 && got[n - 1] == 'z');
    free(got);
    char path_a[sizeof a.path];
    strcpy(path_a, a.path);
    cr_tmpfile_remove(&a);
    CHECK(access(path_a, F_OK) != 0 && a.f == NULL && a.path[0] == '\0');
    cr_tmpfile_remove(&a); /* twice: nothing */
    cr_tmpfile_remove(&b);

    /* a TMPDIR that does not exist: an error naming it */
    char gone[600];
    snprintf(gone, sizeof gone, "%s/missing", dir);
    setenv("TMPDIR", gone, 1);
    cr_tmpfile c = {0};
    CHECK(cr_tmpfile_create(&c, "t-c-", &err) == CR_ERR_IO);
    CHECK_MSG(strstr(cr_err_msg(&err), gone) != NULL, "%s", cr_err_msg(&err));
    CHECK(c.f == NULL && c.path[0] == '\0');
    cr_tmpfile_remove(&c);

    /* a TMPDIR longer than a path: /tmp instead */
    static char huge[PATH_MAX + 100];
    memset(huge, 'x', sizeof huge - 1);
    huge[0] = '/';
    setenv("TMPDIR", huge, 1);
    CHECK(cr_tmpfile_create(&c, "t-d-", &err) == CR_OK && strncmp(c.path, "/tmp/t-d-", 9) == 0);
    cr_tmpfile_remove(&c);

    CHECK(rmdir(dir) == 0); /* empty: everything made was removed */
    return check_exit();
}
