// Package storage is gridprobe's storage rulebook: the WLCG storage checks
// (4crt-read, 5crt-contain, 6crt-access, 7crt-write, 8crt-directory,
// 14tkn-read, 15tkn-contain, 16tkn-access, 17tkn-write, 18tkn-directory),
// the third-party-copy rules once per TPC partner (11crt-tpc-pull,
// 12crt-tpc-push, 19tkn-tpc-pull, 20tkn-tpc-push, 21tkn-tpc-access; tpc*.go),
// and the scratch-area lifecycle, written once over a small transport
// interface (Store, Transport) that each storage protocol implements
// (probes/webdav over HTTPS, probes/xrootd over root://).
//
// A rule never parses protocol text: a Store's errors classify themselves
// (Denied, NotFound, Exists, Unsupported, LoginRefused, NoAnswer), so the
// same server condition gets the same verdict and the same words on every
// protocol. Reproduce lines are written as abstract operations (Op) that
// each protocol renders with its own command-line client.
//
// 16tkn-access tests every storage rule of the WLCG Common JWT Profile
// (v1.0–v1.2; profile.go lists them with the version that requires each)
// as refusals and grants (tknaccess.go, grants.go), and says which version
// the service satisfies against the one sites.yaml expects. A refused token
// read, write or directory step is diagnosed before it is reported
// (diagnose.go): the operation is repeated with tokens varied one thing at
// a time, and the cause leads the detail with the party at fault.
//
// A protocol's catalogue is the rulebook's rules (minus the ones it leaves
// out) merged with its own protocol-only checks in ETF order (Catalogue).
// Adding a rule is one function here and one line in rules (catalogue.go);
// it then runs on every storage protocol.
package storage
