package config

import (
	"fmt"
	"regexp"
	"strings"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// expandEnv replaces ${NAME} and ${NAME:-default} in s; $$ is a literal
// dollar. As in the shell, the default is used when NAME is unset or empty;
// ${NAME} with NAME unset is a problem, with NAME set but empty it is "".
// The default may itself contain ${...}. Values of variables are inserted as
// they are, never expanded again. It returns every problem found, each
// naming the variable, never its value.
//
// os.Expand is not used: it has no defaults, no $$ escape, and silently
// turns unset variables and stray dollars into "".
func expandEnv(s string, lookup func(string) (string, bool)) (string, []string) {
	return expandDepth(s, lookup, 0)
}

func expandDepth(s string, lookup func(string) (string, bool), depth int) (string, []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	if depth > 8 {
		return "", []string{"${...} defaults nested too deeply"}
	}
	var b strings.Builder
	var problems []string
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i += 2
			continue
		}
		if i+1 >= len(s) || s[i+1] != '{' {
			problems = append(problems, `a lone "$" (write $$ for a dollar sign, ${NAME} for a variable)`)
			i++
			continue
		}
		end := closingBrace(s, i+2)
		if end < 0 {
			problems = append(problems, `"${" without a closing "}"`)
			break
		}
		body := s[i+2 : end]
		i = end + 1
		name, def, hasDef := strings.Cut(body, ":-")
		if !envName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("%q is not a variable name in ${...} (use ${NAME} or ${NAME:-default})", truncate(name, 40)))
			continue
		}
		v, ok := lookup(name)
		switch {
		case ok && v != "":
			b.WriteString(v)
		case hasDef:
			d, p := expandDepth(def, lookup, depth+1)
			problems = append(problems, p...)
			b.WriteString(d)
		case !ok:
			problems = append(problems, fmt.Sprintf("environment variable %s is not set (write ${%s:-default} to allow that)", name, name))
		}
	}
	if len(problems) > 0 {
		return "", problems
	}
	return b.String(), nil
}

// closingBrace returns the index of the "}" that closes a "${" whose body
// starts at from, counting nested "${" and skipping "$$".
func closingBrace(s string, from int) int {
	depth := 1
	for j := from; j < len(s); j++ {
		switch {
		case s[j] == '$' && j+1 < len(s) && s[j+1] == '$':
			j++
		case s[j] == '$' && j+1 < len(s) && s[j+1] == '{':
			depth++
			j++
		case s[j] == '}':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
