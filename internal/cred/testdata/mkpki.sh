#!/bin/bash
# mkpki.sh DIR — builds a throwaway grid PKI with the real tools (openssl,
# voms-proxy-fake) for the internal/cred tests. Nothing here is a secret: the
# keys live only in DIR, which the tests delete.
#
# DIR/certs/         hashed CA dir: <hash>.0, <hash>.r0 (CRL), .signing_policy,
#                    .namespaces, .info, .crl_url, plus noise the loader ignores
# DIR/vomsdir/       testvo/voms.localhost.lsc
# DIR/host.pem|key   server cert for localhost/127.0.0.1 (valid)
# DIR/revoked.pem|key   same names, serial listed in the CRL
# DIR/expired.pem|key   same names, validity in the past
# DIR/rogue.pem|key  server cert from a CA that is not in certs/
# DIR/proxy.pem      RFC proxy of "user A" with a testvo AC (2 FQANs)
# DIR/othervo.pem    RFC proxy with an othervo AC
# DIR/plain.pem      RFC proxy without VOMS
# DIR/expiredproxy.pem  proxy (and AC) that expired an hour ago
set -euo pipefail
d=${1:?usage: mkpki.sh DIR}
mkdir -p "$d" && cd "$d"
export RANDFILE="$d/.rnd"
touch "$RANDFILE"
# EC keys are fast to make; user and VOMS signer keys stay RSA (voms-proxy-fake
# signs ACs and proxies with them).
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
rsa=(-newkey rsa:2048)

cat > openssl.cnf <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
default_ca = CA_default
[CA_default]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 60
default_crl_days = 7
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
domainComponent = optional
commonName = supplied
[v3_ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_user]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[v3_host]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
authorityKeyIdentifier = keyid
CNF

newca() { # name subject
  mkdir -p "$1/newcerts"; : > "$1/index.txt"; echo 1000 > "$1/serial"; echo 1000 > "$1/crlnumber"
  openssl req -x509 "${ec[@]}" -nodes -keyout "$1/ca.key" -out "$1/ca.pem" -days 90 \
    -subj "$2" -config openssl.cnf -extensions v3_ca 2>/dev/null
}
issue() { # ca name subject ext [startdate enddate]
  local kt=("${ec[@]}")
  case $2 in user|voms|othervoms) kt=("${rsa[@]}");; esac
  openssl req "${kt[@]}" -nodes -keyout "$2.key" -out "$2.csr" -subj "$3" -config openssl.cnf 2>/dev/null
  local dates=()
  if [ $# -ge 6 ]; then dates=(-startdate "$5" -enddate "$6"); fi
  (cd "$1" && openssl ca -batch -config ../openssl.cnf -cert ca.pem -keyfile ca.key -in "../$2.csr" \
     -out "../$2.pem" -extensions "$4" -notext "${dates[@]}" 2>/dev/null)
  chmod 600 "$2.key"
}

newca ca "/DC=org/DC=gridprobe/CN=gridprobe Test CA"
newca rogueca "/DC=org/DC=elsewhere/CN=Rogue CA"
issue ca host "/DC=org/DC=gridprobe/CN=localhost" v3_host
issue ca revoked "/DC=org/DC=gridprobe/CN=localhost" v3_host
issue ca expired "/DC=org/DC=gridprobe/CN=localhost" v3_host 20200101000000Z 20200201000000Z
issue ca user "/DC=org/DC=gridprobe/CN=user A" v3_user
issue ca voms "/DC=org/DC=gridprobe/CN=voms.localhost" v3_host
issue ca othervoms "/DC=org/DC=gridprobe/CN=voms.other.localhost" v3_host
issue rogueca rogue "/DC=org/DC=elsewhere/CN=localhost" v3_host
(cd ca && openssl ca -config ../openssl.cnf -cert ca.pem -keyfile ca.key -revoke ../revoked.pem 2>/dev/null \
   && openssl ca -config ../openssl.cnf -cert ca.pem -keyfile ca.key -gencrl -out ca.crl 2>/dev/null)

mkdir -p certs
h=$(openssl x509 -in ca/ca.pem -noout -hash)
cp ca/ca.pem "certs/$h.0"
cp ca/ca.crl "certs/$h.r0"
printf 'access_id_CA X509 "/DC=org/DC=gridprobe/CN=gridprobe Test CA"\npos_rights globus CA:sign\ncond_subjects globus "/DC=org/DC=gridprobe/*"\n' > "certs/$h.signing_policy"
printf 'TO Issuer "/DC=org/DC=gridprobe/CN=gridprobe Test CA" PERMIT Subject "/DC=org/DC=gridprobe/.*"\n' > "certs/$h.namespaces"
printf 'alias = gridprobe-test\n' > "certs/$h.info"
printf 'http://crl.invalid/ca.crl\n' > "certs/$h.crl_url"
printf 'not a certificate\n' > certs/README
ln -sf "$h.0" certs/gridprobe-test.pem

mkdir -p vomsdir/testvo vomsdir/othervo
printf '/DC=org/DC=gridprobe/CN=voms.localhost\n/DC=org/DC=gridprobe/CN=gridprobe Test CA\n' > vomsdir/testvo/voms.localhost.lsc
printf '/DC=org/DC=gridprobe/CN=voms.other.localhost\n/DC=org/DC=gridprobe/CN=gridprobe Test CA\n' > vomsdir/othervo/voms.other.localhost.lsc

fake() { voms-proxy-fake -q -certdir certs -cert user.pem -key user.key -rfc -bits 1024 "$@"; }
fake -hostcert voms.pem -hostkey voms.key -voms testvo -uri voms.localhost:15000 \
  -fqan /testvo/Role=NULL/Capability=NULL -fqan /testvo/prod/Role=production/Capability=NULL \
  -hours 12 -vomslife 12 -out proxy.pem
fake -hostcert othervoms.pem -hostkey othervoms.key -voms othervo -uri voms.other.localhost:15001 \
  -fqan /othervo/Role=NULL/Capability=NULL -hours 12 -out othervo.pem
fake -hours 12 -out plain.pem
fake -hostcert voms.pem -hostkey voms.key -voms testvo -uri voms.localhost:15000 \
  -fqan /testvo/Role=NULL/Capability=NULL -hours 1 -pastproxy 2:00 -vomslife 1 -pastac 2:00 -out expiredproxy.pem
chmod 600 proxy.pem othervo.pem plain.pem expiredproxy.pem
