package storage

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/warden-orchestration/warden/apitype"
)

// LogStore persists log records.
type LogStore interface {
	// LogCreateMany inserts the batch in one transaction: every row or none
	// (a duplicate id fails the whole batch with ErrConflict). The caller
	// fills ID, Created and Updated.
	LogCreateMany(ctx context.Context, logs []apitype.Log) error
	LogList(ctx context.Context, p *LogListParams) ([]apitype.Log, error)
}

// LogListParams selects a page of logs. Sort is an apitype.LogSort* value.
type LogListParams struct {
	Filter *apitype.LogFilter
	Sort   string
	Limit  int
	Offset int
}

// LogInsertChunk bounds the rows of one multi-row INSERT so a statement stays
// far below both engines' bind-parameter limits (9 per row).
const LogInsertChunk = 500

// LogTextQuery is a parsed LogFilterText query: a log matches when it holds
// any Include term (if there are any), no Exclude term and every Required
// term, all as case-insensitive substrings of "message name".
type LogTextQuery struct {
	Include  []string
	Exclude  []string
	Required []string
}

// ParseLogTextQuery reads Prefect's log search syntax: space-separated terms
// are alternatives, a "-" or "!" prefix excludes a term, "+" requires it,
// double quotes make a phrase (with \" and \\ escapes). A prefix followed by
// a space is ignored.
func ParseLogTextQuery(q string) LogTextQuery {
	var out LogTextQuery
	rs := []rune(q)
	add := func(prefix rune, term string) {
		switch prefix {
		case '-', '!':
			out.Exclude = append(out.Exclude, term)
		case '+':
			out.Required = append(out.Required, term)
		default:
			out.Include = append(out.Include, term)
		}
	}
	for i := 0; i < len(rs); {
		if unicode.IsSpace(rs[i]) {
			i++
			continue
		}
		var prefix rune
		if strings.ContainsRune("-!+", rs[i]) {
			if i+1 >= len(rs) || unicode.IsSpace(rs[i+1]) {
				i++
				continue
			}
			prefix = rs[i]
			i++
		}
		if rs[i] == '"' {
			i++
			start := i
			for i < len(rs) && rs[i] != '"' {
				if rs[i] == '\\' && i+1 < len(rs) {
					i++
				}
				i++
			}
			phrase := unescapePhrase(rs[start:min(i, len(rs))])
			if i < len(rs) {
				i++ // closing quote
			}
			if strings.TrimSpace(phrase) != "" {
				add(prefix, phrase)
			}
			continue
		}
		start := i
		for i < len(rs) && !unicode.IsSpace(rs[i]) && rs[i] != '"' {
			i++
		}
		if i > start {
			add(prefix, string(rs[start:i]))
		}
	}
	return out
}

// unescapePhrase turns \" into " and \\ into \; other backslashes stay.
func unescapePhrase(rs []rune) string {
	var b strings.Builder
	for i := 0; i < len(rs); i++ {
		if rs[i] == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\') {
			i++
		}
		b.WriteRune(rs[i])
	}
	return b.String()
}

// logSearchText is the text a LogFilterText query searches.
const logSearchText = "(message || ' ' || name)"

// Log renders a LogFilter as a boolean SQL expression over the log table.
// As in Prefect, the text criteria join the top-level list individually, so
// an "or_" operator ORs them with the other criteria.
func (w *Where) Log(f *apitype.LogFilter) (string, error) {
	if f == nil {
		return sqlTrue, nil
	}
	if err := checkOperator(f.Operator); err != nil {
		return "", err
	}
	var preds []string
	if f.Level != nil {
		var p []string
		if f.Level.Ge != nil {
			p = append(p, "(level >= "+w.Bind(*f.Level.Ge)+")")
		}
		if f.Level.Le != nil {
			p = append(p, "(level <= "+w.Bind(*f.Level.Le)+")")
		}
		preds = append(preds, combine(apitype.OperatorAnd, p))
	}
	if f.Timestamp != nil {
		var p []string
		if f.Timestamp.Before != nil {
			p = append(p, "(timestamp <= "+w.bindTime(*f.Timestamp.Before)+")")
		}
		if f.Timestamp.After != nil {
			p = append(p, "(timestamp >= "+w.bindTime(*f.Timestamp.After)+")")
		}
		preds = append(preds, combine(apitype.OperatorAnd, p))
	}
	if f.FlowRunID != nil {
		preds = append(preds, combine(apitype.OperatorAnd, w.idPreds("flow_run_id", f.FlowRunID.Any, nil)))
	}
	if f.TaskRunID != nil {
		p := w.idPreds("task_run_id", f.TaskRunID.Any, nil)
		if f.TaskRunID.IsNull != nil {
			p = append(p, isNull("task_run_id", *f.TaskRunID.IsNull))
		}
		preds = append(preds, combine(apitype.OperatorAnd, p))
	}
	if f.Text != nil && strings.TrimSpace(f.Text.Query) != "" {
		q := ParseLogTextQuery(f.Text.Query)
		if len(q.Include) > 0 {
			var p []string
			for _, term := range q.Include {
				p = append(p, w.d.ILike(w, logSearchText, LikeContains(term)))
			}
			preds = append(preds, combine(apitype.OperatorOr, p))
		}
		if len(q.Exclude) > 0 {
			var p []string
			for _, term := range q.Exclude {
				p = append(p, "NOT "+w.d.ILike(w, logSearchText, LikeContains(term)))
			}
			preds = append(preds, combine(apitype.OperatorAnd, p))
		}
		if len(q.Required) > 0 {
			var p []string
			for _, term := range q.Required {
				p = append(p, w.d.ILike(w, logSearchText, LikeContains(term)))
			}
			preds = append(preds, combine(apitype.OperatorAnd, p))
		}
	}
	return combine(f.Operator, preds), nil
}

// bindTime binds a time as fixed-width UTC text: SQLite compares it with its
// text columns, PostgreSQL casts it to timestamptz.
func (w *Where) bindTime(t time.Time) string {
	return w.Bind(DBTime(t).Format("2006-01-02T15:04:05.000000Z"))
}

// isNull renders `col IS NULL` or `col IS NOT NULL`.
func isNull(col string, null bool) string {
	if null {
		return "(" + col + " IS NULL)"
	}
	return "(" + col + " IS NOT NULL)"
}

// LogOrderBy returns the ORDER BY list of a LogSort value ("" is
// TIMESTAMP_ASC). Ids are UUIDv7, so ties keep insertion order.
func LogOrderBy(sort string) (string, error) {
	switch sort {
	case "", apitype.LogSortTimestampAsc:
		return "timestamp ASC, id ASC", nil
	case apitype.LogSortTimestampDesc:
		return "timestamp DESC, id DESC", nil
	}
	return "", fmt.Errorf("%w: log sort %q", ErrInvalidFilter, sort)
}
