// Command warden is a self-hosted server for Prefect 3 clients.
package main

import (
	"context"
	"os"

	"github.com/warden-orchestration/warden/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background()))
}
