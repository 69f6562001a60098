# se-answer.sh — sourced by testbed/lib/se-watch.sh and scripts/lib/se-events.sh: does one of the testbed's XRootD
# SEs answer now?

# se_answers ROOT_PORT HTTP_PORT SECONDS: the root:// port answers the XRootD handshake (5 int32: 0 0 0 4 2012;
# 16 bytes back) and the https port answers HTTP (any status), each within SECONDS.
se_answers() {
	local n
	n=$(timeout "$3" bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\4\0\0\7\334" >&3 && head -c 16 <&3 | wc -c' _ "$1" 2>/dev/null)
	[ "${n:-0}" = 16 ] || return 1
	curl -sk -o /dev/null --max-time "$3" "https://127.0.0.1:$2/" 2>/dev/null
	n=$?
	[ "$n" != 28 ] && [ "$n" != 7 ] # 28: no answer in time; 7: no connection
}
