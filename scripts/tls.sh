# Certificates for CareBot's brokers, sourced by scripts/broker-setup.sh and scripts/central-setup.sh.
# Each function writes into DIR and leaves keys readable by their owner only (the caller's umask is 077).

# tls_ca DIR COMMON_NAME DAYS: a CA (DIR/ca.key, DIR/ca.crt), made once and kept.
tls_ca() {
    [ -f "$1/ca.key" ] || openssl req -x509 -newkey rsa:2048 -nodes -days "$3" -subj "/CN=$2" \
        -keyout "$1/ca.key" -out "$1/ca.crt" 2>/dev/null
    chmod 644 "$1/ca.crt"
}

# tls_cert DIR NAME COMMON_NAME DAYS EXTENSIONS: DIR/NAME.key and DIR/NAME.crt signed by DIR's CA (or by
# CA_DIR's, when set), with the given X.509 extension lines (subjectAltName, extendedKeyUsage).
tls_cert() {
    local dir="$1" name="$2" ca="${CA_DIR:-$1}"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$3" -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
    printf '%b' "$5" > "$dir/$name.ext"
    openssl x509 -req -in "$dir/$name.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" -CAcreateserial \
        -days "$4" -extfile "$dir/$name.ext" -out "$dir/$name.crt" 2>/dev/null
    rm -f "$dir/$name.csr" "$dir/$name.ext"
    chmod 644 "$dir/$name.crt"
}

# tls_server_san HOST: the subjectAltName of a broker reached as HOST.
tls_server_san() {
    if [ "$1" = localhost ]; then echo "DNS:localhost,IP:127.0.0.1"
    elif [[ "$1" =~ ^[0-9.]+$ ]]; then echo "IP:$1"
    else echo "DNS:$1"; fi
}
