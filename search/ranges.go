package search

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Range filters: size:, modified:/taken:, duration:. Each takes
//
//	>V  >=V  <V  <=V  =V  V  A..B
//
// where a bare V means "within V's precision": size:10MB is 10 MiB up to
// (not including) 11 MiB, modified:2026-07 is that month. For dates the
// operators compare with the whole period: modified:>2026-07 is from
// August on, modified:<=2026-07 up to the end of July.

type rangeOp struct {
	op     string // ">", ">=", "<", "<=", "=", ".."
	lo, hi string
}

func splitRange(v string) (rangeOp, error) {
	for _, op := range []string{">=", "<=", ">", "<", "="} {
		if strings.HasPrefix(v, op) {
			return rangeOp{op: op, lo: strings.TrimSpace(v[len(op):])}, nil
		}
	}
	if a, b, ok := strings.Cut(v, ".."); ok {
		return rangeOp{op: "..", lo: a, hi: b}, nil
	}
	return rangeOp{op: "", lo: v}, nil
}

// numRange builds a numeric range from a parsed value and the width of
// its precision.
func numRange(field string, r rangeOp, parse func(string) (float64, float64, error)) (query.Query, error) {
	inc, exc := true, false
	lo, width, err := parse(r.lo)
	if err != nil && r.op != ".." {
		return nil, err
	}
	var q *query.NumericRangeQuery
	switch r.op {
	case ">":
		q = bleve.NewNumericRangeInclusiveQuery(&lo, nil, &exc, nil)
	case ">=":
		q = bleve.NewNumericRangeInclusiveQuery(&lo, nil, &inc, nil)
	case "<":
		q = bleve.NewNumericRangeInclusiveQuery(nil, &lo, nil, &exc)
	case "<=":
		q = bleve.NewNumericRangeInclusiveQuery(nil, &lo, nil, &inc)
	case "..":
		var a, b *float64
		if r.lo != "" {
			v, _, err := parse(r.lo)
			if err != nil {
				return nil, err
			}
			a = &v
		}
		if r.hi != "" {
			v, _, err := parse(r.hi)
			if err != nil {
				return nil, err
			}
			b = &v
		}
		if a == nil && b == nil {
			return nil, badQuery("%s: range needs at least one end", field)
		}
		q = bleve.NewNumericRangeInclusiveQuery(a, b, &inc, &inc)
	default: // "=" or bare: within the value's precision
		hi := lo + width
		if width == 0 {
			q = bleve.NewNumericRangeInclusiveQuery(&lo, &lo, &inc, &inc)
		} else {
			q = bleve.NewNumericRangeInclusiveQuery(&lo, &hi, &inc, &exc)
		}
	}
	q.SetField(field)
	return q, nil
}

var sizeUnits = map[string]float64{
	"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// parseSize reads "10MB", "1.5g", "300" (bytes; k/m/g/t are powers of
// 1024, as file managers show sizes). Width: one of its unit.
func parseSize(s string) (float64, float64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	unit, ok := sizeUnits[strings.TrimSpace(s[i:])]
	if err != nil || !ok || n < 0 || math.IsInf(n, 0) {
		return 0, 0, badQuery("size: %q is not a size (examples: size:>10MB, size:<500k, size:1GB..2GB)", s)
	}
	w := unit
	if unit == 1 {
		w = 0
	}
	return n * unit, w, nil
}

func sizeQuery(v string) (query.Query, error) {
	r, err := splitRange(v)
	if err != nil {
		return nil, err
	}
	return numRange(fSize, r, parseSize)
}

// parseDuration reads "90" (seconds), "3m", "1h30m", "1:30", "1:02:03".
func parseDuration(s string) (float64, float64, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, ":") {
		var total float64
		for _, p := range strings.Split(s, ":") {
			n, err := strconv.ParseFloat(p, 64)
			if err != nil || n < 0 {
				return 0, 0, badQuery("duration: %q is not a duration (examples: duration:>3m, duration:<1:30)", s)
			}
			total = total*60 + n
		}
		return total, 1, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && n >= 0 {
		return n, 1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, 0, badQuery("duration: %q is not a duration (examples: duration:>3m, duration:<1:30)", s)
	}
	return d.Seconds(), 1, nil
}

func durationQuery(v string) (query.Query, error) {
	r, err := splitRange(v)
	if err != nil {
		return nil, err
	}
	return numRange(fDuration, r, parseDuration)
}

// parseDate reads 2026, 2026-07, 2026-07-14, 2026-07-14T10:00, RFC 3339,
// today, yesterday, or Nd/Nw/Nh ("7d": 7 days ago), in the node's local
// time; it returns the start and the end of the period it names.
func parseDate(s string, now time.Time) (time.Time, time.Time, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	loc := now.Location()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	switch s {
	case "today":
		return day, day.AddDate(0, 0, 1), nil
	case "yesterday":
		return day.AddDate(0, 0, -1), day, nil
	}
	if n := len(s); n >= 2 {
		if k, err := strconv.Atoi(s[:n-1]); err == nil && k >= 0 && k < 100000 {
			switch s[n-1] {
			case 'h':
				t := now.Add(-time.Duration(k) * time.Hour)
				return t, t, nil
			case 'd':
				t := now.AddDate(0, 0, -k)
				return t, t, nil
			case 'w':
				t := now.AddDate(0, 0, -7*k)
				return t, t, nil
			}
		}
	}
	layouts := []struct {
		layout string
		next   func(time.Time) time.Time
	}{
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01-02t15:04", func(t time.Time) time.Time { return t.Add(time.Minute) }},
		{"2006-01-02t15:04:05", func(t time.Time) time.Time { return t.Add(time.Second) }},
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l.layout, s, loc); err == nil {
			return t, l.next(t), nil
		}
	}
	if t, err := time.Parse(time.RFC3339, strings.ToUpper(s)); err == nil {
		return t, t.Add(time.Second), nil
	}
	return time.Time{}, time.Time{}, badQuery("%q is not a date (examples: modified:>2026-01-01, modified:2026-07, taken:2024, modified:>7d, modified:today)", s)
}

func dateQuery(field, v string) (query.Query, error) {
	r, err := splitRange(v)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	// "modified:7d" (no operator, a relative age) means within the last 7 days.
	if r.op == "" {
		if a, b, err := parseDate(r.lo, now); err == nil && a.Equal(b) {
			r.op = ">="
		}
	}
	var start, end time.Time
	inc, exc := true, false
	switch r.op {
	case "..":
		if r.lo != "" {
			a, _, err := parseDate(r.lo, now)
			if err != nil {
				return nil, err
			}
			start = a
		}
		if r.hi != "" {
			_, b, err := parseDate(r.hi, now)
			if err != nil {
				return nil, err
			}
			end = b
		}
	default:
		a, b, err := parseDate(r.lo, now)
		if err != nil {
			return nil, err
		}
		switch r.op {
		case ">":
			start = b
		case ">=":
			start = a
		case "<":
			end = a
		case "<=":
			end = b
		default:
			start, end = a, b
		}
	}
	if start.IsZero() && end.IsZero() {
		return nil, badQuery("%s: range needs at least one end", field)
	}
	q := bleve.NewDateRangeInclusiveQuery(start, end, &inc, &exc)
	q.SetField(field)
	return q, nil
}
