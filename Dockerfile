# Dockerfile -- crease on Debian 12, built by the repository's own scripts (the steps of
# `scripts/setup`): scripts/deps installs the build packages, scripts/fetch-models
# fetches the pinned BlazePose models (sha256-checked) at build time, scripts/build
# builds, and the final image holds only the binary, the models and the runtime
# libraries (scripts/deps --runtime).  One image for every role:
#   docker run IMAGE serve --bind 0.0.0.0       (the default command)
#   docker run IMAGE chunk-worker --metrics-port 9100 --metrics-bind 0.0.0.0
#   docker run IMAGE analysis-worker --metrics-port 9100 --metrics-bind 0.0.0.0
#   docker run IMAGE migrate up
# Settings come from the environment (README, "Configuration").

FROM debian:12 AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/ scripts/
RUN scripts/deps
COPY . .
RUN scripts/fetch-models \
 && scripts/build /build -DCMAKE_INSTALL_PREFIX=/opt/crease \
 && cmake --install /build

FROM debian:12-slim
ENV DEBIAN_FRONTEND=noninteractive
COPY scripts/deps /tmp/deps
RUN /tmp/deps --runtime && rm -rf /var/lib/apt/lists/* /tmp/deps \
 && useradd --system --home-dir /var/lib/crease --create-home --shell /usr/sbin/nologin crease
COPY --from=build /opt/crease /opt/crease
ENV PATH=/opt/crease/bin:$PATH
USER crease
WORKDIR /var/lib/crease
# 8000: crease serve; 9100: a worker's --metrics-port
EXPOSE 8000 9100
# crease exits 0 on SIGTERM once the work in hand is done (give it the time: see
# deploy/ for the grace periods).
STOPSIGNAL SIGTERM
ENTRYPOINT ["crease"]
CMD ["serve", "--bind", "0.0.0.0", "--port", "8000"]
