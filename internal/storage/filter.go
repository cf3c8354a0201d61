package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// ErrInvalidFilter means a sort or filter value the engines cannot translate.
var ErrInvalidFilter = errors.New("invalid filter")

// Always-true and always-false predicates, spelled so every engine accepts them.
const (
	sqlTrue  = "(1=1)"
	sqlFalse = "(1=0)"
)

// Dialect renders the few engine-specific fragments of a WHERE clause. User
// values always travel as bind parameters: a dialect only shapes the SQL.
// Column names passed in are constants of this package, never user input.
type Dialect interface {
	// Placeholder is the bind marker of the n-th (1-based) argument.
	Placeholder(n int) string
	// In matches a text column against a list of strings.
	In(w *Where, col string, values []string) string
	// InIDs matches a uuid column against a list of ids.
	InIDs(w *Where, col string, ids []uuid.UUID) string
	// ContainsAll matches a JSON-array column holding every one of values.
	ContainsAll(w *Where, col string, values []string) string
	// EmptyArray matches a JSON-array column that is NULL or [].
	EmptyArray(col string) string
	// ILike matches col case-insensitively against a LIKE pattern whose
	// escape character is '\'.
	ILike(w *Where, col, pattern string) string
}

// Where accumulates the bind arguments of one statement.
type Where struct {
	d    Dialect
	Args []any
}

// NewWhere starts a statement whose first bind argument is number 1.
func NewWhere(d Dialect) *Where { return &Where{d: d} }

// Bind appends v as an argument and returns its placeholder.
func (w *Where) Bind(v any) string {
	w.Args = append(w.Args, v)
	return w.d.Placeholder(len(w.Args))
}

// JSONList encodes values as a JSON array (never null), the form the SQLite
// json_each and Postgres jsonb operators take.
func JSONList(values []string) string {
	if values == nil {
		values = []string{}
	}
	b, _ := json.Marshal(values) // []string always marshals
	return string(b)
}

// LikeWildcards builds the pattern of a `like_` filter criterion. Prefect
// passes the value through unescaped (ilike(f"%{like_}%")) and documents that
// `%` and `_` act as wildcards, so they do here too; `\` escapes, as in
// PostgreSQL's default (both engines' ILike use ESCAPE '\').
func LikeWildcards(s string) string { return "%" + s + "%" }

// LikeContains builds the pattern of a case-insensitive substring match,
// escaping the LIKE wildcards so `%` and `_` match literally (text search).
func LikeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// combine joins predicates the way Prefect does: no criteria means TRUE.
func combine(op apitype.Operator, preds []string) string {
	if len(preds) == 0 {
		return sqlTrue
	}
	sep := " AND "
	if op == apitype.OperatorOr {
		sep = " OR "
	}
	return "(" + strings.Join(preds, sep) + ")"
}

func checkOperator(op apitype.Operator) error {
	switch op {
	case "", apitype.OperatorAnd, apitype.OperatorOr:
		return nil
	}
	return fmt.Errorf("%w: operator %q", ErrInvalidFilter, op)
}

// UUIDStrings renders ids in their canonical text form.
func UUIDStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// idPreds mirrors Prefect: any_ present (even empty) restricts, not_any_ only when non-empty.
func (w *Where) idPreds(col string, anyIDs, notAny []uuid.UUID) []string {
	var preds []string
	if anyIDs != nil {
		preds = append(preds, w.d.InIDs(w, col, anyIDs))
	}
	if len(notAny) > 0 {
		preds = append(preds, "NOT "+w.d.InIDs(w, col, notAny))
	}
	return preds
}

func (w *Where) name(f *apitype.FilterName) string {
	var preds []string
	if f.Any != nil {
		preds = append(preds, w.d.In(w, "name", f.Any))
	}
	if f.Like != nil && *f.Like != "" {
		preds = append(preds, w.d.ILike(w, "name", LikeWildcards(*f.Like)))
	}
	return combine(apitype.OperatorAnd, preds)
}

func (w *Where) tags(f *apitype.FilterTags) (string, error) {
	if err := checkOperator(f.Operator); err != nil {
		return "", err
	}
	var preds []string
	if len(f.All) > 0 {
		preds = append(preds, w.d.ContainsAll(w, "tags", f.All))
	}
	if f.IsNull != nil {
		empty := w.d.EmptyArray("tags")
		if !*f.IsNull {
			empty = "NOT " + empty
		}
		preds = append(preds, empty)
	}
	return combine(f.Operator, preds), nil
}

// Flow renders a FlowFilter as a boolean SQL expression over the flow table.
// A nil filter matches every row.
func (w *Where) Flow(f *apitype.FlowFilter) (string, error) {
	if f == nil {
		return sqlTrue, nil
	}
	if err := checkOperator(f.Operator); err != nil {
		return "", err
	}
	var preds []string
	if f.ID != nil {
		preds = append(preds, combine(apitype.OperatorAnd, w.idPreds("id", f.ID.Any, f.ID.NotAny)))
	}
	if f.Deployment != nil {
		if err := checkOperator(f.Deployment.Operator); err != nil {
			return "", err
		}
		// The flow table is never aliased, so flow.id names the row filtered.
		p := sqlTrue
		if f.Deployment.IsNull != nil {
			p = "(EXISTS (SELECT 1 FROM deployment WHERE deployment.flow_id = flow.id))"
			if *f.Deployment.IsNull {
				p = "NOT " + p
			}
		}
		preds = append(preds, p)
	}
	if f.Name != nil {
		preds = append(preds, w.name(f.Name))
	}
	if f.Tags != nil {
		p, err := w.tags(f.Tags)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	return combine(f.Operator, preds), nil
}

// Variable renders a VariableFilter as a boolean SQL expression over the
// variable table. A nil filter matches every row.
func (w *Where) Variable(f *apitype.VariableFilter) (string, error) {
	if f == nil {
		return sqlTrue, nil
	}
	if err := checkOperator(f.Operator); err != nil {
		return "", err
	}
	var preds []string
	if f.ID != nil {
		preds = append(preds, combine(apitype.OperatorAnd, w.idPreds("id", f.ID.Any, nil)))
	}
	if f.Name != nil {
		preds = append(preds, w.name(f.Name))
	}
	if f.Tags != nil {
		p, err := w.tags(f.Tags)
		if err != nil {
			return "", err
		}
		preds = append(preds, p)
	}
	return combine(f.Operator, preds), nil
}

// FlowOrderBy returns the ORDER BY list of a FlowSort value ("" is NAME_ASC,
// Prefect's default). Ties break by id so pages are stable.
func FlowOrderBy(sort string) (string, error) {
	switch sort {
	case "", apitype.FlowSortNameAsc:
		return "name ASC, id ASC", nil
	case apitype.FlowSortNameDesc:
		return "name DESC, id DESC", nil
	case apitype.FlowSortCreatedDesc:
		return "created DESC, id DESC", nil
	case apitype.FlowSortUpdatedDesc:
		return "updated DESC, id DESC", nil
	}
	return "", fmt.Errorf("%w: flow sort %q", ErrInvalidFilter, sort)
}

// VariableOrderBy returns the ORDER BY list of a VariableSort value ("" is
// NAME_ASC, Prefect's default).
func VariableOrderBy(sort string) (string, error) {
	switch sort {
	case "", apitype.VariableSortNameAsc:
		return "name ASC, id ASC", nil
	case apitype.VariableSortNameDesc:
		return "name DESC, id DESC", nil
	case apitype.VariableSortCreatedDesc:
		return "created DESC, id DESC", nil
	case apitype.VariableSortUpdatedDesc:
		return "updated DESC, id DESC", nil
	}
	return "", fmt.Errorf("%w: variable sort %q", ErrInvalidFilter, sort)
}
