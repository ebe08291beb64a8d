package testenv

import (
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/clamd"
)

// ClamdAddress is the clamd tests scan with (TUTORHUB_TEST_CLAMD_ADDRESS, default the local
// stack's, whose database deploy/local/up.sh builds: EICAR and the clamav-testfiles).
func ClamdAddress() string { return envOr("TUTORHUB_TEST_CLAMD_ADDRESS", "127.0.0.1:3310") }

// Clamd returns a client of the shared clamd, starting it with deploy/local/up.sh when it
// does not answer (see needService for what happens when it cannot start).
func Clamd(t testing.TB) *clamd.Client {
	t.Helper()
	c := &clamd.Client{Address: ClamdAddress(), Timeout: time.Minute}
	needService(t, "clamd", c.Ping)
	return c
}

// ClamavTestFiles is the directory of the clamav-testfiles package: files every ClamAV
// database (and the local one) detects.
const ClamavTestFiles = "/usr/share/clamav-testfiles"

// EICAR is the EICAR anti-virus test file.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`
