package apitype

import (
	"time"

	"github.com/google/uuid"
)

// CsrfToken is the body of GET /csrf-token?client=.
type CsrfToken struct {
	ID         uuid.UUID `json:"id"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Token      string    `json:"token"`
	Client     string    `json:"client"`
	Expiration time.Time `json:"expiration"`
}
