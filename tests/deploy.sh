#!/bin/sh
# deploy.sh CREASE REPO -- lints the deployment files as far as this machine allows:
#   deploy/systemd   `systemd-analyze verify` on each unit (with ExecStart pointed at the
#                    built binary, so the check of the command is real); any complaint
#                    fails; skipped, saying so, only where systemd-analyze is absent
#   deploy/kubernetes, deploy/ecs, the unit files' settings
#                    tests/node/deploy_check.js (YAML parsed, key fields held to crease's
#                    own values: the KEDA query is `crease autoscale-metric --print-query`)
#   Dockerfile       Debian 12, the scripts/ install steps, models fetched at build
#                    time, a non-root user; and the runtime stage's packages
#                    (scripts/deps --print-runtime) provide every library the built
#                    binary links (objdump + dpkg -S)
set -u
crease=$(realpath "$1")
repo=$(realpath "$2")
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
tmp=$(mktemp -d /tmp/crease-deploy-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# ---- systemd ----------------------------------------------------------------------
if command -v systemd-analyze >/dev/null 2>&1; then
    for f in "$repo"/deploy/systemd/*.service; do
        sed "s|/usr/local/bin/crease|$crease|g" "$f" >"$tmp/$(basename "$f")"
    done
    # a template is verified as an instance of it
    mv "$tmp/crease-chunk-worker@.service" "$tmp/crease-chunk-worker@9101.service"
    (cd "$tmp" && systemd-analyze verify ./*.service) >"$tmp/verify.log" 2>&1; st=$?
    [ $st -eq 0 ] && [ ! -s "$tmp/verify.log" ] && ok "systemd-analyze verify: the three units, no complaint" ||
        { bad "systemd-analyze verify (exit $st)"; cat "$tmp/verify.log"; }
else
    echo "skip: systemd-analyze is not installed: the unit files were not verified by systemd"
fi

# ---- Kubernetes, ECS, the units' settings ----------------------------------------------
if ! command -v node >/dev/null 2>&1; then
    bad "node is needed for the YAML checks"
elif [ ! -d "$repo/tests/node/node_modules/yaml" ]; then
    bad "the yaml package is missing: (cd tests/node && npm ci)"
else
    "$crease" autoscale-metric --print-query >"$tmp/query" || bad "--print-query"
    node "$repo/tests/node/deploy_check.js" "$repo" "$tmp/query" || fail=1
fi
help=$("$crease" autoscale-metric --help)
echo "$help" | grep -q "default Cricksy/VideoAnalysis" && echo "$help" | grep -q QueuedChunksPerWorker &&
    ok "the ECS policy's namespace and metric are the ones crease publishes" || bad "autoscale-metric names"

# ---- Dockerfile ----------------------------------------------------------------------
df=$repo/Dockerfile
grep -Eq '^FROM debian:12([-.@][^ ]*)? AS build$' "$df" && grep -Eq '^FROM debian:12(-slim)?$' "$df" &&
    ok "Dockerfile: Debian 12, a build stage and a runtime stage" || bad "Dockerfile FROM lines"
for step in "scripts/deps" "scripts/fetch-models" "scripts/build" "cmake --install" "/tmp/deps --runtime"; do
    grep -q -- "$step" "$df" || bad "Dockerfile does not run $step"
done
ok "Dockerfile: scripts/deps, scripts/fetch-models (models at build time), scripts/build, deps --runtime"
grep -q '^USER crease$' "$df" && grep -q '^ENTRYPOINT \["crease"\]$' "$df" && grep -q '^STOPSIGNAL SIGTERM$' "$df" &&
    ok "Dockerfile: non-root, crease as the entry point, SIGTERM" || bad "Dockerfile USER/ENTRYPOINT/STOPSIGNAL"
for src in $(sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' "$df"); do
    [ "$src" = . ] || [ -e "$repo/$src" ] || bad "Dockerfile copies $src, which does not exist"
done
if command -v objdump >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
    "$repo/scripts/deps" --print-runtime >"$tmp/runtime"
    missing=""
    # (the sanitizer runtimes of a CREASE_SANITIZE build are not crease's dependencies)
    for so in $(objdump -p "$crease" | awk '/NEEDED/ && $2 !~ /^lib(a|ub|l|t)san\./ { print $2 }'); do
        pkgs=$(dpkg -S "*/$so" 2>/dev/null | cut -d: -f1 | tr ',' '\n' | sed 's/ //g' | sort -u)
        found=0
        for p in $pkgs; do
            { [ "$p" = libc6 ] || grep -qx "$p" "$tmp/runtime"; } && found=1
        done
        [ $found -eq 1 ] || missing="$missing $so(${pkgs:-no package})"
    done
    [ -z "$missing" ] && ok "the runtime packages provide every library crease links" ||
        bad "libraries no runtime package provides:$missing"
else
    echo "skip: objdump or dpkg missing: the runtime packages were not checked"
fi

[ $fail -eq 0 ] && echo "all passed" || echo "some failed"
exit $fail
