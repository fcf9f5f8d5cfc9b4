#!/bin/sh
# blob_cli.sh CREASE local|s3 -- `crease blob` end to end on one backend.
#   local: a temporary CREASE_BLOB_DIR; s3: s3rver from CREASE_TEST_S3_* (skipped, exit 77,
#   without it unless CREASE_TEST_REQUIRE_SERVICES=1).
set -u
crease=$1
mode=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

unset S3_COACH_VIDEOS_BUCKET S3_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export APP_SECRET_KEY=cli-test-secret
if [ "$mode" = s3 ]; then
    if [ -z "${CREASE_TEST_S3_ENDPOINT:-}" ]; then
        echo "CREASE_TEST_S3_ENDPOINT not set" >&2
        [ "${CREASE_TEST_REQUIRE_SERVICES:-}" = 1 ] && exit 1
        exit 77
    fi
    export S3_COACH_VIDEOS_BUCKET=$CREASE_TEST_S3_BUCKET S3_ENDPOINT_URL=$CREASE_TEST_S3_ENDPOINT
    export AWS_ACCESS_KEY_ID=$CREASE_TEST_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CREASE_TEST_S3_SECRET_KEY
else
    export CREASE_BLOB_DIR=$tmp/blobs
fi
p="cli/$$-$(date +%s)"

# usage
"$crease" blob --help >"$tmp/help" || fail "--help exit"
grep -q "crease blob presign KEY" "$tmp/help" || fail "--help text"
"$crease" blob >/dev/null 2>&1; [ $? -eq 2 ] || fail "no subcommand should exit 2"
"$crease" blob frob x >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown subcommand should exit 2"
"$crease" blob put onlyfile >/dev/null 2>&1; [ $? -eq 2 ] || fail "put with one argument"
"$crease" blob presign k --expires 0 >/dev/null 2>&1; [ $? -eq 2 ] || fail "--expires 0"
"$crease" blob head k --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option"

# put, head, ls, get
printf 'hello blob\n' >"$tmp/in.txt"
"$crease" blob put "$tmp/in.txt" "$p/a b.txt" || fail "put"
"$crease" blob head "$p/a b.txt" >"$tmp/head" || fail "head"
grep -q '"size":11' "$tmp/head" || fail "head size: $(cat "$tmp/head")"
"$crease" blob ls "$p/" >"$tmp/ls" || fail "ls"
grep -q " $p/a b.txt\$" "$tmp/ls" || fail "ls lists the key: $(cat "$tmp/ls")"
"$crease" blob get "$p/a b.txt" "$tmp/out.txt" || fail "get"
cmp -s "$tmp/in.txt" "$tmp/out.txt" || fail "get content"
[ "$("$crease" blob get "$p/a b.txt" -)" = "hello blob" ] || fail "get to stdout"

# presign
url=$("$crease" blob presign "$p/a b.txt" --expires 60) || fail "presign"
if [ "$mode" = s3 ]; then
    case $url in *X-Amz-Signature=*X-Amz-*|*X-Amz-Expires=60*) ;; *) fail "s3 url: $url" ;; esac
    [ "$(curl -s "$url")" = "hello blob" ] || fail "curl GET presigned"
    put=$("$crease" blob presign "$p/up.txt" --put) || fail "presign --put"
    printf 'via url' >"$tmp/up.txt"
    code=$(curl -s -o /dev/null -w '%{http_code}' -T "$tmp/up.txt" "$put")
    [ "$code" = 200 ] || fail "curl PUT presigned: $code"
    [ "$("$crease" blob get "$p/up.txt" -)" = "via url" ] || fail "get after presigned PUT"
    "$crease" blob rm "$p/up.txt" || fail "rm up"
else
    case $url in /blobs/*"a%20b.txt?method=GET&expires="*"&sig="*) ;; *) fail "local url: $url" ;; esac
    APP_SECRET_KEY= "$crease" blob presign "$p/a b.txt" >/dev/null 2>"$tmp/err"
    [ $? -eq 1 ] && grep -q APP_SECRET_KEY "$tmp/err" || fail "presign without a secret"
fi

# rm, missing keys, hostile keys
"$crease" blob rm "$p/a b.txt" || fail "rm"
"$crease" blob head "$p/a b.txt" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "not found" "$tmp/err" || fail "head after rm: $(cat "$tmp/err")"
"$crease" blob put "$tmp/in.txt" "../escape" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "'..'" "$tmp/err" || fail "hostile key: $(cat "$tmp/err")"
[ ! -e "$tmp/escape" ] || fail "a file escaped the blob folder"
"$crease" blob get "$p/nope" "$tmp/nope" 2>/dev/null; [ $? -eq 1 ] || fail "get missing"
[ ! -e "$tmp/nope" ] || fail "get missing left a file"

[ $fails -eq 0 ] && echo "blob_cli $mode: ok" && exit 0
exit 1
