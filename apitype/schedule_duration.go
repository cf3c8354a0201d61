package apitype

import (
	"errors"
	"strconv"
	"strings"
)

// errDuration is returned for an interval string pydantic would not take.
var errDuration = errors.New("interval: input should be a valid duration")

// parseDurationSeconds reads a timedelta given as a string, in the forms
// pydantic accepts: ISO 8601 ("PT1H", "P1DT2H30M", "P1W", "-PT0.5S"; a year
// is 365 days and a month 30, as pydantic counts them) or the clock form
// ("01:00:00", "1:00", "2 days, 00:00:01").
func parseDurationSeconds(s string) (float64, error) {
	sign := 1.0
	rest := s
	if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
		if rest[0] == '-' {
			sign = -1
		}
		rest = rest[1:]
	}
	var v float64
	var err error
	if strings.HasPrefix(rest, "P") {
		v, err = parseISODuration(rest[1:])
	} else {
		v, err = parseClockDuration(rest)
	}
	if err != nil {
		return 0, err
	}
	return sign * v, nil
}

func parseISODuration(s string) (float64, error) {
	if s == "" || s == "T" {
		return 0, errDuration
	}
	date, clock, hasT := strings.Cut(s, "T")
	if hasT && clock == "" && date == "" {
		return 0, errDuration
	}
	total := 0.0
	// Like pydantic, units may repeat and come in any order.
	units := func(part string, scale map[byte]float64) error {
		for part != "" {
			i := strings.IndexFunc(part, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
			if i <= 0 {
				return errDuration
			}
			n, err := strconv.ParseFloat(part[:i], 64)
			if err != nil {
				return errDuration
			}
			f, ok := scale[part[i]]
			if !ok {
				return errDuration
			}
			total += n * f
			part = part[i+1:]
		}
		return nil
	}
	const day = 86400.0
	if err := units(date, map[byte]float64{'Y': 365 * day, 'M': 30 * day, 'W': 7 * day, 'D': day}); err != nil {
		return 0, err
	}
	if err := units(clock, map[byte]float64{'H': 3600, 'M': 60, 'S': 1}); err != nil {
		return 0, err
	}
	return total, nil
}

// parseClockDuration reads "[D day[s], ][H]H:MM[:SS[.ffffff]]".
func parseClockDuration(s string) (float64, error) {
	days := 0.0
	if d, clock, ok := strings.Cut(s, ","); ok {
		num, unit, ok := strings.Cut(strings.TrimSpace(d), " ")
		if !ok || (unit != "day" && unit != "days") {
			return 0, errDuration
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			return 0, errDuration
		}
		days, s = float64(n), strings.TrimSpace(clock)
	}
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, errDuration
	}
	total := 0.0
	for i, p := range parts {
		if p == "" || strings.ContainsAny(p, "+-eE") {
			return 0, errDuration
		}
		n, err := strconv.ParseFloat(p, 64)
		if err != nil || (i < len(parts)-1 && strings.Contains(p, ".")) {
			return 0, errDuration
		}
		total = total*60 + n
	}
	if len(parts) == 2 { // H:MM
		total *= 60
	}
	return days*86400 + total, nil
}
