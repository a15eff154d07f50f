# shellcheck shell=bash
# Certificates for mutual TLS between Granary silos and clients (sourced by cluster.sh and
# bench-tls.sh).

# make_tls <dir>: a CA (ca.pem, ca.key), the silos' certificate (silo.pem, silo.key: server and
# client use, SAN 127.0.0.1 and localhost) and a client certificate (client.pem, client.key) made
# with openssl (EC P-256, 825 days) into <dir>, which is replaced; mode 0700, keys 0600.
make_tls() {
  local tls_dir=$1
  command -v openssl >/dev/null || {
    echo "TLS certificates need openssl: apt-get install -y openssl" >&2
    exit 1
  }
  rm -rf "$tls_dir"
  (
    umask 077
    mkdir -p "$tls_dir"
    cd "$tls_dir"
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 825 -subj "/CN=Granary local CA" \
      -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    issue() { # issue <name> <CN> <extendedKeyUsage> [subjectAltName]
      openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
      {
        echo "basicConstraints=critical,CA:FALSE"
        echo "keyUsage=critical,digitalSignature"
        echo "extendedKeyUsage=$3"
        if [[ -n "${4:-}" ]]; then echo "subjectAltName=$4"; fi
      } >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    issue silo granary-silo serverAuth,clientAuth "IP:127.0.0.1,DNS:localhost"
    issue client granary-operator clientAuth
    rm -f ca.srl
    chmod 0600 ./*.key
    chmod 0644 ./*.pem
  )
  chmod 0700 "$tls_dir"
}

# tls_thumbprint <pem>: the SHA-1 thumbprint of a certificate, as .NET prints it (hex, no colons).
tls_thumbprint() { openssl x509 -in "$1" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g'; }

