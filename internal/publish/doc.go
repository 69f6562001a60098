// Package publish sends every check result to a message broker over STOMP,
// as one message in the shape ETF/SAM results travel in, so experiments can
// take gridprobe's results where they already read ETF's (SAM3/MONIT raw
// metrics, availability and reliability).
//
// # Message shape
//
// The body is the "WLCG format" metricOutput message of the WLCG Monitoring
// WG, as the Nagios-based SAM/ETF publishers write it: GridMon::MetricOutput
// wlcg_format (grid-monitoring's Perl library, used by handle_service_check
// in msg-nagios-bridge and ARGOeu/argo-msg-nagios), and the sample message of
// LHCbDIRAC's NagiosConnector (a DIRAC component that publishes into SAM). One
// "key: value" line each, the multi-line detailsData last, then a line "EOT":
//
//	serviceURI: se.example.org:1094
//	hostName: se.example.org
//	serviceFlavour: XROOTD
//	siteName: T2_XX_Example
//	metricStatus: CRITICAL
//	metricName: org.cms.SE-XRootD-14tkn-read
//	summaryData: CRITICAL - read /store/test refused: kXR_NotAuthorized ...   (≤ 256 characters)
//	gatheredAt: probe01.example.org
//	timestamp: 2026-12-07T10:00:00Z
//	nagiosName: org.cms.SE-XRootD-14tkn-read-cms
//	voName: cms
//	serviceType: XROOTD
//	perfData: '14tkn-read_duration'=0.123s;;;;
//	detailsData: read /store/test refused: ...
//	Reproduce:
//	xrdcp ...
//	EOT
//
// metricName is the ETF metric name (<service>-<check>); nagiosName adds the
// VO as SAM's Nagios did; serviceFlavour and serviceType are the VO-feed
// flavours (WEBDAV, XROOTD, ARC-CE, HTCONDOR-CE); summaryData is the Nagios
// status line, cut at SAM3's 256 characters; timestamp is when the check
// ended (UTC). perfData is gridprobe's one addition (the Nagios perfdata of
// the check; line-oriented readers that do not know it skip it). Every value
// passes through the credential redactor, and a details line reading "EOT"
// is changed so it cannot end the message early. A message longer than
// publish.max_message_bytes has its details cut, which is logged and
// counted. STOMP headers: content-type text/plain, persistent:true, and
// gridprobe-id, a unique id that stays the same when a message is resent.
//
// # Delivery
//
// Publish never blocks the round that calls it: results go into a bounded
// in-memory queue (full: dropped and counted). One goroutine writes each
// message to the on-disk spool (one file per message, written to a temporary
// name, synced and renamed, so a crash never leaves half a message); another
// sends the oldest spooled message with a receipt and deletes it only when the
// broker's RECEIPT arrives (RabbitMQ and ActiveMQ send it after the message is
// routed and, for persistent messages on durable queues, stored). Connection
// failures, refused logins and TLS failures are logged, counted, and retried
// with exponential back-off; the spool keeps everything meanwhile, across
// broker outages and probe restarts, up to its bounds (then the oldest
// messages are dropped and counted). A message the broker itself refuses
// three times (an ERROR frame for that SEND) is dropped and counted, so one
// bad message cannot stop the rest.
//
// Delivery is therefore at least once, not exactly once: when the broker
// stored a message but the connection broke before its RECEIPT reached the
// probe, the probe cannot tell, and sends the message again after
// reconnecting. Consumers that must not count a result twice deduplicate on
// the gridprobe-id header.
//
// go-stomp (github.com/go-stomp/stomp/v3) speaks STOMP; a Send waiting for
// its receipt is bounded here by closing the connection when publish.timeout
// passes, because the library's own receipt timeout leaves a goroutine
// blocked once the connection later closes.
package publish
