package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const logColumns = `id, created, updated, name, level, flow_run_id, task_run_id, message, timestamp`

func scanLog(r pgx.Row) (*apitype.Log, error) {
	var l apitype.Log
	if err := r.Scan(&l.ID, &l.Created, &l.Updated, &l.Name, &l.Level, &l.FlowRunID, &l.TaskRunID, &l.Message, &l.Timestamp); err != nil {
		return nil, interpretError(err)
	}
	l.Created, l.Updated, l.Timestamp = l.Created.UTC(), l.Updated.UTC(), l.Timestamp.UTC()
	return &l, nil
}

// LogCreateMany implements storage.Store: one transaction, multi-row INSERTs
// of at most storage.LogInsertChunk rows.
func (s *Store) LogCreateMany(ctx context.Context, logs []apitype.Log) error {
	if len(logs) == 0 {
		return nil
	}
	return s.write(ctx, func(tx pgx.Tx) error {
		for start := 0; start < len(logs); start += storage.LogInsertChunk {
			chunk := logs[start:min(start+storage.LogInsertChunk, len(logs))]
			values := make([]string, len(chunk))
			args := make([]any, 0, len(chunk)*9)
			for i, l := range chunk {
				n := len(args)
				values[i] = fmt.Sprintf("($%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9)
				args = append(args, l.ID, storage.DBTime(l.Created), storage.DBTime(l.Updated), l.Name, l.Level,
					l.FlowRunID, l.TaskRunID, l.Message, storage.DBTime(l.Timestamp))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO log (`+logColumns+`) VALUES `+strings.Join(values, ", "), args...); err != nil {
				return fmt.Errorf("insert logs: %w", interpretError(err))
			}
		}
		return nil
	})
}

// LogList implements storage.Store. Limit <= 0 means no limit.
func (s *Store) LogList(ctx context.Context, p *storage.LogListParams) ([]apitype.Log, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.Log(p.Filter)
	if err != nil {
		return nil, err
	}
	order, err := storage.LogOrderBy(p.Sort)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+logColumns+` FROM log WHERE `+cond+` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.Log, error) {
		l, err := scanLog(r)
		if err != nil {
			return apitype.Log{}, err
		}
		return *l, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	if out == nil {
		out = []apitype.Log{}
	}
	return out, nil
}
