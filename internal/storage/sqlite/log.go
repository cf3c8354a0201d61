package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const logColumns = `id, created, updated, name, level, flow_run_id, task_run_id, message, timestamp`

// nullID stores an optional id as TEXT or NULL.
func nullID(id *uuid.UUID) sql.NullString {
	if id == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: id.String(), Valid: true}
}

func decodeNullID(s sql.NullString) (*uuid.UUID, error) {
	if !s.Valid {
		return nil, nil
	}
	id, err := uuid.Parse(s.String)
	if err != nil {
		return nil, fmt.Errorf("decode id: %w", err)
	}
	return &id, nil
}

func scanLog(r rowScanner) (*apitype.Log, error) {
	var (
		l                               apitype.Log
		id, created, updated, timestamp string
		flowRunID, taskRunID            sql.NullString
	)
	if err := r.Scan(&id, &created, &updated, &l.Name, &l.Level, &flowRunID, &taskRunID, &l.Message, &timestamp); err != nil {
		return nil, interpretError(err)
	}
	var err error
	if l.ID, err = uuid.Parse(id); err != nil {
		return nil, fmt.Errorf("decode log id: %w", err)
	}
	if l.Created, err = decodeTime(created); err != nil {
		return nil, err
	}
	if l.Updated, err = decodeTime(updated); err != nil {
		return nil, err
	}
	if l.Timestamp, err = decodeTime(timestamp); err != nil {
		return nil, err
	}
	if l.FlowRunID, err = decodeNullID(flowRunID); err != nil {
		return nil, err
	}
	if l.TaskRunID, err = decodeNullID(taskRunID); err != nil {
		return nil, err
	}
	return &l, nil
}

// LogCreateMany implements storage.Store: one transaction, multi-row INSERTs
// of at most storage.LogInsertChunk rows.
func (s *Store) LogCreateMany(ctx context.Context, logs []apitype.Log) error {
	if len(logs) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(logs); start += storage.LogInsertChunk {
			chunk := logs[start:min(start+storage.LogInsertChunk, len(logs))]
			values := make([]string, len(chunk))
			args := make([]any, 0, len(chunk)*9)
			for i, l := range chunk {
				values[i] = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
				args = append(args, l.ID.String(), encodeTime(l.Created), encodeTime(l.Updated), l.Name, l.Level,
					nullID(l.FlowRunID), nullID(l.TaskRunID), l.Message, encodeTime(l.Timestamp))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO log (`+logColumns+`) VALUES `+strings.Join(values, ", "), args...); err != nil {
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
	rows, err := s.reader.QueryContext(ctx, `SELECT `+logColumns+` FROM log WHERE `+cond+` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	defer rows.Close()
	out := []apitype.Log{}
	for rows.Next() {
		l, err := scanLog(rows)
		if err != nil {
			return nil, fmt.Errorf("list logs: %w", err)
		}
		out = append(out, *l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	return out, nil
}
