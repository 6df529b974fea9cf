package storage_test

import (
	"os"
	"testing"

	"github.com/mediagraph/mediagraph/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}
