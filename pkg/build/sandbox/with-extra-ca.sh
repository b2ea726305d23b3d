#!/bin/sh
# with-extra-ca.sh CMD [ARG...]: run one build step that downloads over HTTPS, trusting the extra CA
# certificates of the optional build secret "extra_ca" (a PEM bundle, for networks whose proxy
# re-signs TLS) for that step only. The combined bundle lives in the step's tmpfs /tmp, so nothing
# of it is stored in the image. Without the secret the command runs unchanged.
# Bind-mounted into the RUN steps of the Dockerfile; not copied into the image.
set -eu
extra=/run/occ-build/extra_ca
if [ ! -s "$extra" ]; then
	exec "$@"
fi
bundle=$(mktemp /tmp/occ-ca-bundle.XXXXXX)
aptconf=$(mktemp /tmp/occ-apt-ca.XXXXXX)
trap 'rm -f "$bundle" "$aptconf"' EXIT
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
	cat /etc/ssl/certs/ca-certificates.crt >"$bundle"
fi
cat "$extra" >>"$bundle"
printf 'Acquire::https::CaInfo "%s";\n' "$bundle" >"$aptconf"
echo "opencode-cloud build: trusting $(grep -c 'BEGIN CERTIFICATE' "$extra") extra CA certificate(s) for this step" >&2
# node adds NODE_EXTRA_CA_CERTS to its own store; curl, git and OpenSSL-based tools take the
# combined bundle; apt takes it through an extra configuration file.
NODE_EXTRA_CA_CERTS=$extra SSL_CERT_FILE=$bundle CURL_CA_BUNDLE=$bundle GIT_SSL_CAINFO=$bundle \
	APT_CONFIG=$aptconf "$@"
