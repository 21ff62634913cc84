# The one srec image: `srec operator`, `srec recorder` and the auditor's tools from one build, plus
# rsyslogd for the syslog pods the operator runs, so that one pinned image runs them all.
# Multi-stage: the build stage has the compilers for ssh2's native crypto binding; the runtime stage
# has Node, rsyslogd and the pruned node_modules.
# Build: docker build -t srec:0.1.0 .   Without a daemon: npm run image:build (buildah; the e2e tests run it).
# No `# syntax=` line: it would make BuildKit pull a frontend image from a registry at build time,
# which an air-gapped or mirrored build cannot; the built-in frontend reads everything used here.
ARG NODE_VERSION=24.21.0
ARG DEBIAN_RELEASE=bookworm
# The base of both stages. Where the official image cannot be pulled, give one with the same contents
# (Debian slim, Node and npm in /usr/local): `npm run image:build` makes one and passes it here.
ARG NODE_IMAGE=node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim

FROM ${NODE_IMAGE} AS build
# python3, make and g++ build ssh2's (and cpu-features') native binding during npm ci.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# npm ci's postinstall applies the declared dependency patches (patches/, patch-package) and fails the build
# when one no longer applies; the recorder also reports not ready if ssh2's patched window is not in effect.
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund --foreground-scripts \
 && node -e "if (!require('ssh2/lib/protocol/crypto.js').bindingAvailable) { console.error('ssh2 native crypto binding did not build'); process.exit(1) }"
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
# rsyslogd only: the syslog pods start it themselves (`rsyslogd -n -f <mounted conf>`), never as a service.
# rsyslog-openssl: the `ossl` stream driver, for forwarding to the SIEM over TLS (spec.syslog.tls).
RUN apt-get update \
 && apt-get install -y --no-install-recommends rsyslog rsyslog-openssl \
 && rm -rf /var/lib/apt/lists/* /etc/rsyslog.d/*
ENV NODE_ENV=production
WORKDIR /app
# Root-owned and read-only for the process: the pods run with readOnlyRootFilesystem anyway.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The CRD is the schema `srec validate` and the operator load at run time.
COPY --from=build /app/crds ./crds
# OCI image annotations (what registries, scanners and Artifact Hub show). VERSION follows package.json
# and the chart's appVersion (scripts/dockerfile.test.ts checks); REVISION is the commit, given by CI.
ARG VERSION=0.1.0
ARG REVISION=unknown
# Declared before the first FROM; named again to be seen inside this stage.
ARG NODE_VERSION
ARG DEBIAN_RELEASE
ARG NODE_IMAGE
LABEL org.opencontainers.image.title="srec" \
      org.opencontainers.image.description="Kubernetes-native recording of privileged SSH sessions: the SessionRecording operator, the recording SSH bastion and rsyslogd for the audit pipeline" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://git.example.com/platform/srec" \
      org.opencontainers.image.url="https://git.example.com/platform/srec" \
      org.opencontainers.image.documentation="https://git.example.com/platform/srec/blob/main/docs/install.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
# Numeric, so that Kubernetes can check runAsNonRoot without a passwd entry. Group 0 may read
# everything the image ships (OpenShift's restricted-v2 runs the pod as an arbitrary uid in group 0).
USER 65532:65532
# 2222 recorder SSH, 8080 operator probes + metrics, 9090 recorder probes + metrics, 5514 syslog.
EXPOSE 2222 8080 9090 5514
ENTRYPOINT ["node", "/app/bin/srec.js"]
CMD ["--help"]
