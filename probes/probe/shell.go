package probe

import "strings"

// Quote returns s as one POSIX shell word. Words made only of safe
// characters stay bare; anything else is single-quoted.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,@%+", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Command joins words into a shell line, quoting each argument. A word that
// refers to the user's environment ("$X509_USER_PROXY", or
// `Authorization: Bearer $(cat "$BEARER_TOKEN_FILE")`) is a fixed template
// written by a probe; it is double-quoted as is, so it expands. Credentials
// are only ever referenced this way, never inlined.
func Command(words ...string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if strings.HasPrefix(w, "$") || strings.Contains(w, "$(") || strings.Contains(w, "${") {
			out[i] = `"` + w + `"`
			continue
		}
		out[i] = Quote(w)
	}
	return strings.Join(out, " ")
}
