package pgstore

import (
	"os"
	"testing"

	"github.com/magiclink-go/magiclink/internal/testpg"
)

// pg is the cluster this package's tests share; each test gets its own
// database. Tests that kill the server start their own (testpg.Start).
var pg testpg.Shared

func TestMain(m *testing.M) { os.Exit(pg.Run(m)) }
