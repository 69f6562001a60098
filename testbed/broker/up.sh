#!/usr/bin/env bash
# up.sh — start the gridprobe testbed's message broker (idempotent), on loopback only:
#   RabbitMQ 3.10 (Debian bookworm rabbitmq-server) with its STOMP plugin,
#     stomp://localhost:61613    plain STOMP (username/password)
#     stomps://localhost:61614   STOMP over TLS: server certificate for localhost from the test CA; clients log in
#                                with username/password or with a client certificate (its CN is the user name)
#   epmd on 127.0.0.1:4369 and the Erlang distribution port 127.0.0.1:25672 (only rabbitmqctl uses them);
#   no AMQP listener, no management plugin.
# Users (vhost /): gridprobe (password in $TB/broker/credentials as "gridprobe:<password>") and
# gridprobe-publisher (no password; logs in with the client certificate $TB/broker/client/cert.pem).
# Needs the storage testbed's CA (testbed/up.sh). State in ${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}/broker;
# `testbed/broker/env` prints the client environment. RabbitMQ runs as root from its own directories, without
# systemd and without touching /var/lib/rabbitmq.
set -euo pipefail
umask 022

T0=$(date +%s%N)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
B="$TB/broker"
STOMP_PORT=61613
STOMPS_PORT=61614
DIST_PORT=25672
EPMD_PORT=4369
NODE=gridprobe@localhost
DAY=86400

say() { printf 'testbed/broker: %s\n' "$*"; }
die() { printf 'testbed/broker: ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { echo "$(( ($(date +%s%N) - T0) / 1000000 )) ms"; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && ! grep -q '^State:.*Z' "/proc/$(cat "$1")/status" 2>/dev/null; }

[ "$(id -u)" = 0 ] || die "run as root"
[ -s "$TB/ca/ca.pem" ] && [ -s "$TB/ca/ca.key" ] || die "no test CA in $TB (run testbed/up.sh first)"

# ---------------------------------------------------------------- package
# The package's maintainer scripts would start a broker with the default configuration (all interfaces): a
# policy-rc.d that refuses every start keeps them from it while we install, if the machine has none already.
install_rabbitmq() {
	local st
	st=$(dpkg-query -W -f='${db:Status-Status}' rabbitmq-server 2>/dev/null || true)
	[ "$st" = installed ] && return 0
	say "installing rabbitmq-server"
	local own_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# written by gridprobe testbed/broker/up.sh during apt-get install; removed after\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 0755 /usr/sbin/policy-rc.d
		own_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	local i ok=0
	for i in 1 2 3 4 5 6; do
		if apt-get update -qq && apt-get install -y -qq --no-install-recommends rabbitmq-server; then ok=1; break; fi
		say "apt-get failed (dpkg lock busy?), retry $i in 10 s"; sleep 10
	done
	[ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
	[ "$ok" = 1 ] || die "could not install rabbitmq-server"
}
install_rabbitmq
RMQ_BIN=/usr/lib/rabbitmq/bin
[ -x "$RMQ_BIN/rabbitmq-server" ] || die "$RMQ_BIN/rabbitmq-server missing"

mkdir -p "$B"/{etc,run,log,tls,client,home,mnesia}
chmod 0700 "$B" "$B"/{etc,tls,client,home,mnesia}
chmod 0755 "$B"/{run,log}

# put_cfg FILE < content: replace FILE only when the content differs; returns 1 when it changed.
put_cfg() {
	local tmp
	tmp=$(mktemp "$1.XXXXXX")
	cat >"$tmp"
	chmod 0600 "$tmp"
	if cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 0; fi
	mv "$tmp" "$1"
	return 1
}

# issue name subject ext: key + certificate from the test CA into $B/<dir>/{cert,key}.pem (dir = name)
issue() {
	local d="$B/$1" subj=$2 ext=$3
	openssl req -new -newkey rsa:2048 -nodes -sha256 -keyout "$d/key.pem" -out "$d/req.csr" -subj "$subj" 2>/dev/null
	printf '%b\n' "$ext" >"$d/ext.cnf"
	openssl x509 -req -sha256 -days 365 -in "$d/req.csr" -CA "$TB/ca/ca.pem" -CAkey "$TB/ca/ca.key" \
		-set_serial "0x$(openssl rand -hex 12)" -extfile "$d/ext.cnf" -out "$d/cert.pem" 2>/dev/null
	rm -f "$d/req.csr" "$d/ext.cnf"
	chmod 0600 "$d/key.pem"; chmod 0644 "$d/cert.pem"
}
fresh() { # dir: its cert.pem is valid for a day more and signed by the current test CA
	[ -s "$B/$1/cert.pem" ] && openssl x509 -in "$B/$1/cert.pem" -noout -checkend $DAY >/dev/null 2>&1 &&
		openssl verify -CAfile "$TB/ca/ca.pem" "$B/$1/cert.pem" >/dev/null 2>&1
}
CHANGED=0
EXT='basicConstraints=critical,CA:false\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nkeyUsage=critical,digitalSignature,keyEncipherment'
if ! fresh tls; then
	say "issuing the broker's server certificate for localhost from the test CA"
	issue tls "/DC=org/DC=gridprobe/CN=localhost" "$EXT\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1"
	CHANGED=1
fi
if ! fresh client; then
	say "issuing the publisher's client certificate from the test CA"
	issue client "/DC=org/DC=gridprobe/CN=gridprobe-publisher" "$EXT\nextendedKeyUsage=clientAuth"
fi
install -m 0644 "$TB/ca/ca.pem" "$B/tls/ca.pem"

# ---------------------------------------------------------------- users
# The password lives only in $B/credentials (0600, "user:password") and, hashed, in the definitions RabbitMQ
# imports at boot (rabbit_password_hashing_sha256: base64(salt ‖ sha256(salt ‖ password)), 4-byte salt).
if [ ! -s "$B/credentials" ]; then
	(umask 077; printf 'gridprobe:%s\n' "$(openssl rand -hex 18)" >"$B/credentials")
fi
chmod 0600 "$B/credentials"
PASSWORD=$(cut -d: -f2- "$B/credentials")
HASH_FILE="$B/etc/password.hash"
# Rehash only when the password changed (a new salt would rewrite the definitions and restart the broker).
if [ ! -s "$HASH_FILE" ] || [ "$B/credentials" -nt "$HASH_FILE" ]; then
	PW="$PASSWORD" perl -MDigest::SHA=sha256 -MMIME::Base64 -e \
		'my $s = pack("N", int(rand(2**32))); print encode_base64($s . sha256($s . $ENV{PW}), "")' >"$HASH_FILE"
fi
put_cfg "$B/etc/definitions.json" <<EOF || CHANGED=1
{
  "vhosts": [{"name": "/"}],
  "users": [
    {"name": "gridprobe", "password_hash": "$(cat "$HASH_FILE")", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []},
    {"name": "gridprobe-publisher", "password_hash": "", "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": []}
  ],
  "permissions": [
    {"user": "gridprobe", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"},
    {"user": "gridprobe-publisher", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
  ]
}
EOF

# ---------------------------------------------------------------- configuration
put_cfg "$B/etc/rabbitmq.conf" <<EOF || CHANGED=1
# gridprobe testbed broker (generated by testbed/broker/up.sh): STOMP only, loopback only.
listeners.tcp = none
stomp.listeners.tcp.1 = 127.0.0.1:$STOMP_PORT
stomp.listeners.ssl.1 = 127.0.0.1:$STOMPS_PORT
stomp.ssl_cert_login = true
ssl_cert_login_from = common_name
ssl_options.cacertfile = $B/tls/ca.pem
ssl_options.certfile = $B/tls/cert.pem
ssl_options.keyfile = $B/tls/key.pem
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
load_definitions = $B/etc/definitions.json
log.console = false
log.file.level = info
EOF
put_cfg "$B/etc/enabled_plugins" <<<'[rabbitmq_stomp].' || CHANGED=1
# Our own env file, so /etc/rabbitmq/rabbitmq-env.conf (whatever a machine has there) does not apply.
put_cfg "$B/etc/rabbitmq-env.conf" <<<'# empty: every setting comes from the environment up.sh sets' || CHANGED=1

RMQ_ENV=(env HOME="$B/home" RABBITMQ_CONF_ENV_FILE="$B/etc/rabbitmq-env.conf" RABBITMQ_CONFIG_FILE="$B/etc/rabbitmq"
	RABBITMQ_ENABLED_PLUGINS_FILE="$B/etc/enabled_plugins" RABBITMQ_MNESIA_BASE="$B/mnesia" RABBITMQ_LOG_BASE="$B/log"
	RABBITMQ_PID_FILE="$B/run/rabbitmq.pid" RABBITMQ_NODENAME="$NODE" RABBITMQ_DIST_PORT="$DIST_PORT"
	ERL_EPMD_ADDRESS=127.0.0.1 ERL_EPMD_PORT="$EPMD_PORT"
	RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")

# ---------------------------------------------------------------- start
if [ "$CHANGED" = 0 ] && alive "$B/run/rabbitmq.pid" && listening $STOMP_PORT && listening $STOMPS_PORT; then
	say "already up (stomp://localhost:$STOMP_PORT, stomps://localhost:$STOMPS_PORT); checked in $(elapsed)"
	exit 0
fi
"$HERE/down.sh" --quiet
for p in $STOMP_PORT $STOMPS_PORT $DIST_PORT $EPMD_PORT; do
	for ((i = 0; i < 200; i++)); do listening "$p" || break; sleep 0.05; done
	listening "$p" && { ss -Hltnp "sport = :$p" >&2; die "port $p is in use by a process this testbed did not start"; }
done
[ -e "$B/log/rabbit.log" ] && mv "$B/log/rabbit.log" "$B/log/rabbit.log.prev"

# epmd first, on loopback, with a PID file (an epmd the node started itself would outlive every stop).
setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$B/run/epmd.pid" \
	epmd -address 127.0.0.1 -port "$EPMD_PORT" </dev/null >>"$B/log/epmd.log" 2>&1 9>&- &
for ((i = 0; i < 100; i++)); do listening $EPMD_PORT && break; sleep 0.05; done
listening $EPMD_PORT || die "epmd did not listen on 127.0.0.1:$EPMD_PORT"

# The node: stdout/stderr to start.log; the server's own log is $B/log/<node>.log.
setsid "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmq-server" </dev/null >>"$B/log/start.log" 2>&1 9>&- &
for ((i = 0; i < 2400; i++)); do # up to 120 s: boot takes 5 s on an idle machine, 30 s on a busy one
	listening $STOMP_PORT && listening $STOMPS_PORT && alive "$B/run/rabbitmq.pid" && break
	sleep 0.05
done
if ! { listening $STOMP_PORT && listening $STOMPS_PORT; }; then
	tail -n 40 "$B/log/start.log" "$B/log/$NODE.log" >&2 2>/dev/null || true
	die "RabbitMQ did not listen on $STOMP_PORT and $STOMPS_PORT within 120 s"
fi

# Nothing of ours may listen on a non-loopback address.
SNAP=$(ss -Hltnp)
for pf in "$B/run/rabbitmq.pid" "$B/run/epmd.pid"; do
	pid=$(cat "$pf")
	if grep "pid=$pid," <<<"$SNAP" | awk '{print $4}' | grep -vE '^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):' | grep -q .; then
		grep "pid=$pid," <<<"$SNAP" >&2
		"$HERE/down.sh" --quiet
		die "the broker ($pf) listens on a non-loopback address; stopped it"
	fi
done
say "up in $(elapsed): stomp://localhost:$STOMP_PORT, stomps://localhost:$STOMPS_PORT (RabbitMQ $(dpkg-query -W -f='${Version}' rabbitmq-server))"
