package settings

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// parseError is a one-line load error naming the setting, where the value
// came from and what was expected. It echoes the offending value only when
// it cannot carry a credential: numbers, booleans, durations and enums of
// non-secret settings. Dicts (client.custom_headers holds Authorization
// headers), lists and free strings (URLs with userinfo) are never echoed.
type parseError struct {
	def      *Def
	src      Source
	expected string
	got      any
}

func (e *parseError) Error() string {
	msg := fmt.Sprintf("invalid setting %s from %s: %s", e.def.Name, e.src.Describe(), e.expected)
	if e.def.echoable() && e.got != nil {
		s := fmt.Sprint(e.got)
		if len(s) > 80 {
			s = s[:77] + "..."
		}
		msg += fmt.Sprintf(", got %q", s)
	}
	return msg
}

// echoable reports whether a bad value of d may be quoted in an error.
func (d *Def) echoable() bool {
	if d.Secret {
		return false
	}
	switch d.Kind {
	case KindInt, KindFloat, KindBool, KindDuration:
		return true
	case KindString:
		return len(d.Enum) > 0
	}
	return false
}

// parse converts a raw value (string from env/.env/profile/override, or a
// decoded TOML value) into d's Go type: string, int64, float64, bool,
// time.Duration, map[string]any, []string, []int or any JSON value.
func (d *Def) parse(raw any, src Source) (any, error) {
	fail := func(expected string) error { return &parseError{def: d, src: src, expected: expected, got: raw} }
	v, expected := parseKind(d.Kind, d.Elem, raw)
	if expected != "" {
		return nil, fail(expected)
	}
	if len(d.Enum) > 0 {
		s := v.(string)
		found := false
		for _, e := range d.Enum {
			// Prefect upper-cases log levels before validating; accept any case.
			if strings.EqualFold(s, e) {
				v, found = e, true
				break
			}
		}
		if !found {
			return nil, fail("expected one of " + strings.Join(d.Enum, ", "))
		}
	}
	if msg := d.checkBounds(v); msg != "" {
		return nil, fail(msg)
	}
	return v, nil
}

func (d *Def) checkBounds(v any) string {
	check := func(x float64) string {
		if d.Min != nil {
			if d.ExclusiveMin && x <= *d.Min {
				return fmt.Sprintf("expected a value greater than %v", *d.Min)
			}
			if !d.ExclusiveMin && x < *d.Min {
				return fmt.Sprintf("expected a value of at least %v", *d.Min)
			}
		}
		if d.Max != nil && x > *d.Max {
			return fmt.Sprintf("expected a value of at most %v", *d.Max)
		}
		return ""
	}
	switch x := v.(type) {
	case int64:
		return check(float64(x))
	case float64:
		return check(x)
	case []int:
		for _, n := range x {
			if msg := check(float64(n)); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// parseKind returns the parsed value, or a non-empty description of what
// was expected.
func parseKind(k, elem Kind, raw any) (any, string) {
	switch k {
	case KindString, KindPath:
		if s, ok := raw.(string); ok {
			return s, ""
		}
		return nil, "expected a string"
	case KindInt:
		switch x := raw.(type) {
		case int64:
			return x, ""
		case float64:
			if x == math.Trunc(x) && !math.IsInf(x, 0) {
				return int64(x), ""
			}
		case string:
			if n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err == nil {
				return n, ""
			}
		}
		return nil, "expected an integer"
	case KindFloat:
		if f, ok := toFloat(raw); ok {
			return f, ""
		}
		return nil, "expected a number"
	case KindBool:
		switch x := raw.(type) {
		case bool:
			return x, ""
		case int64:
			if x == 0 || x == 1 {
				return x == 1, ""
			}
		case string:
			if b, ok := parseBool(x); ok {
				return b, ""
			}
		}
		return nil, "expected a boolean (true/false)"
	case KindDuration:
		if s, ok := raw.(string); ok {
			if dur, ok := parseDuration(s); ok {
				return dur, ""
			}
		} else if f, ok := toFloat(raw); ok {
			return time.Duration(f * float64(time.Second)), ""
		}
		return nil, "expected a duration (ISO-8601 like PT1H, or seconds)"
	case KindDict:
		m, ok := raw.(map[string]any)
		if s, isStr := raw.(string); isStr {
			ok = json.Unmarshal([]byte(s), &m) == nil && m != nil
		}
		if !ok {
			return nil, "expected a JSON object"
		}
		out := make(map[string]any, len(m))
		for key, val := range m {
			if elem == KindAny {
				out[key] = val
				continue
			}
			pv, exp := parseKind(elem, KindAny, val)
			if exp != "" {
				return nil, "expected a JSON object of " + elem.String() + " values"
			}
			out[key] = pv
		}
		return out, ""
	case KindStringList:
		items, ok := listItems(raw)
		if !ok {
			return nil, "expected a comma-separated list of strings"
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, ok := it.(string)
			if !ok {
				return nil, "expected a comma-separated list of strings"
			}
			out = append(out, s)
		}
		return out, ""
	case KindIntSet:
		items, ok := listItems(raw)
		if !ok {
			return nil, "expected a comma-separated list of integers"
		}
		seen := map[int]bool{}
		out := []int{}
		for _, it := range items {
			n, exp := parseKind(KindInt, KindAny, it)
			if exp != "" {
				return nil, "expected a comma-separated list of integers"
			}
			if !seen[int(n.(int64))] {
				seen[int(n.(int64))] = true
				out = append(out, int(n.(int64)))
			}
		}
		sort.Ints(out)
		return out, ""
	case KindAny:
		if s, ok := raw.(string); ok {
			var v any
			if json.Unmarshal([]byte(s), &v) == nil {
				return normalizeTOML(v), ""
			}
			return s, ""
		}
		return normalizeTOML(raw), ""
	}
	return nil, "unsupported setting kind"
}

// listItems accepts a JSON array string, a comma list, a TOML array or a
// single TOML scalar. Items of a comma list are trimmed and empties dropped.
func listItems(raw any) ([]any, bool) {
	switch x := raw.(type) {
	case string:
		if t := strings.TrimSpace(x); strings.HasPrefix(t, "[") {
			var arr []any
			if err := json.Unmarshal([]byte(t), &arr); err != nil {
				return nil, false
			}
			return normalizeTOML(arr).([]any), true
		}
		var out []any
		for _, p := range strings.Split(x, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, true
	case []any:
		return x, true
	case int64, float64:
		return []any{x}, true
	}
	return nil, false
}

// normalizeTOML makes JSON numbers and TOML integers look alike: JSON
// decoding yields float64 for every number, so integral ones become int64.
func normalizeTOML(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x)
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeTOML(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeTOML(e)
		}
		return out
	}
	return v
}

func toFloat(raw any) (float64, bool) {
	switch x := raw.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// parseBool accepts the spellings pydantic accepts.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "t", "yes", "y", "on":
		return true, true
	case "0", "false", "f", "no", "n", "off":
		return false, true
	}
	return false, false
}

// parseDuration accepts seconds ("90", "1.5") or an ISO-8601 duration
// without years/months ("PT1H", "P7D", "P1DT2H30M", "PT0.5S", "-PT1M").
func parseDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(f * float64(time.Second)), true
	}
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	s = strings.ToUpper(s)
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, false
	}
	s = s[1:]
	var total float64
	inTime := false
	units := 0
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime || len(s) == 1 {
				return 0, false
			}
			inTime, s = true, s[1:]
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, false
		}
		n, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, false
		}
		var unit float64
		switch {
		case !inTime && s[i] == 'W':
			unit = 7 * 86400
		case !inTime && s[i] == 'D':
			unit = 86400
		case inTime && s[i] == 'H':
			unit = 3600
		case inTime && s[i] == 'M':
			unit = 60
		case inTime && s[i] == 'S':
			unit = 1
		default:
			return 0, false
		}
		total += n * unit
		units++
		s = s[i+1:]
	}
	if units == 0 {
		return 0, false
	}
	d := time.Duration(total * float64(time.Second))
	if neg {
		d = -d
	}
	return d, true
}

// formatDuration renders d the way pydantic serialises a timedelta
// ("PT1H", "P7D", "P1DT2H", "PT0S"), for /api/admin/settings.
func formatDuration(d time.Duration) string {
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	b.WriteByte('P')
	days := d / (24 * time.Hour)
	d -= days * 24 * time.Hour
	if days > 0 {
		fmt.Fprintf(&b, "%dD", days)
	}
	h, m := d/time.Hour, (d%time.Hour)/time.Minute
	sec := d % time.Minute
	if h == 0 && m == 0 && sec == 0 {
		if days == 0 {
			b.WriteString("T0S")
		}
		return b.String()
	}
	b.WriteByte('T')
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if sec > 0 {
		b.WriteString(strconv.FormatFloat(sec.Seconds(), 'f', -1, 64) + "S")
	}
	return b.String()
}
