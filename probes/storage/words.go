package storage

// WLCG Common JWT Profile rules the token checks name when a server breaks
// them, the same words on every protocol.
const (
	ruleCreate       = "WLCG profile: storage.create allows creating new files and directories"
	ruleModifyDelete = "WLCG profile: storage.modify includes deleting"
	rulePathElements = "WLCG profile: a scope path covers itself and what is below it, matched by whole path elements"
	ruleOtherPath    = "WLCG profile: a token grants only the paths of its scopes"
	ruleAudience     = "WLCG profile: a token whose aud does not name the endpoint must be rejected"
	ruleCreateOnly   = "WLCG profile: storage.create must not modify existing data"
	ruleRead         = "WLCG profile: storage.read allows reading"
	ruleReadOnly     = "WLCG profile: storage.read allows reading only, never creating or changing data"
	ruleBasePath     = "WLCG profile: scope paths are relative to the VO's base path; nothing outside it may be granted"
	ruleOtherVO      = "a VO's proxy must not read another VO's data"
	ruleMembers      = "only the VO's members may read its data"
)

// RuleText lists the rule wordings (tests use them to recognise a named
// violation).
var RuleText = map[string]string{
	"create": ruleCreate, "modify-delete": ruleModifyDelete, "path-elements": rulePathElements,
	"other-path": ruleOtherPath, "audience": ruleAudience, "create-only": ruleCreateOnly,
	"read": ruleRead, "base-path": ruleBasePath,
}

// OtherAudience is the audience of the "token for another endpoint" that
// 16tkn-access expects to be refused: a name no real endpoint has.
const OtherAudience = "https://gridprobe-other-endpoint.invalid"

// OtherAudience2 is a second audience no endpoint has (an aud list).
const OtherAudience2 = "https://gridprobe-third-endpoint.invalid"
