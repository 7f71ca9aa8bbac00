// Package pgtest gives tests a real PostgreSQL: the server named by
// QUOTAWATCH_TEST_DATABASE_URL, or else a throwaway cluster started from the
// server binaries of Debian's postgresql package (initdb and postgres under
// /usr/lib/postgresql/*/bin, or on PATH), one per test process, on a temp
// folder and a loopback port. Each test gets a schema of its own.
//
// Without either, tests that need PostgreSQL are skipped with a message
// saying how to enable them — or fail, when CI is set: CI always runs them.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the variable that points tests at an existing server. Its
// user must be allowed to create schemas in its database.
const EnvURL = "QUOTAWATCH_TEST_DATABASE_URL"

const howTo = "PostgreSQL tests need " + EnvURL + " (a postgres:// URL of a database where the user may CREATE SCHEMA) or PostgreSQL's server binaries (Debian: apt-get install postgresql)"

var (
	sharedOnce sync.Once
	shared     *Cluster
	sharedURL  string
	sharedErr  error
	dbSeq      atomic.Int64
)

// Main runs the tests of a package that uses this one and stops the shared
// cluster after them; call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared != nil {
		shared.Stop()
		shared.remove()
	}
	return code
}

// unavailable skips t, or fails it under CI.
func unavailable(t testing.TB, why error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("no PostgreSQL for this test (CI is set, so it must run): %v. %s", why, howTo)
	}
	t.Skipf("skipped: %v. %s", why, howTo)
}

// URL returns the URL of a new, empty schema for t on the shared server,
// dropped when t ends (see NewDatabase).
func URL(t testing.TB) string {
	t.Helper()
	sharedOnce.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			sharedURL = u
			return
		}
		shared, sharedErr = Start()
		if sharedErr == nil {
			sharedURL = shared.URL("postgres")
		}
	})
	if sharedErr != nil {
		unavailable(t, sharedErr)
	}
	return NewDatabase(t, sharedURL)
}

// NewDatabase gives t a schema of its own in the database of admin (a
// URL) and returns a URL whose search_path is that schema, so everything
// quotawatch creates lands in it; it is dropped when t ends. A schema is
// far cheaper than a database, and quotawatch's advisory locks are per
// schema.
func NewDatabase(t testing.TB, admin string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect to the test server: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("quotawatch_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, admin); err == nil {
			conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+name+" CASCADE")
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: %s: not a URL", EnvURL)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Cluster is a throwaway PostgreSQL server on a loopback port.
type Cluster struct {
	dir, bin string
	port     int
	cred     *syscall.Credential
	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{}
}

// NewCluster starts a cluster of t's own (for tests that stop and restart
// the server), removed when t ends; it skips or fails t as URL does when
// none can be started.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := Start()
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		c.Stop()
		c.remove()
	})
	return c
}

// bin finds the folder of PostgreSQL's server binaries.
func bin() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL's initdb was found neither under /usr/lib/postgresql/*/bin nor on PATH")
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// Start creates and starts a cluster. As root it runs the server as the
// postgres user, since initdb refuses to run as root.
func Start() (*Cluster, error) {
	b, err := bin()
	if err != nil {
		return nil, err
	}
	// The server's Unix socket lives in the folder too, and a socket path
	// is short (107 bytes); as root the postgres user must reach it.
	root := os.TempDir()
	if os.Geteuid() == 0 || len(root) > 40 {
		root = "/tmp"
	}
	dir, err := os.MkdirTemp(root, "quotawatch-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, bin: b}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, and initdb refuses root: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	init := c.command("initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "-N", "--no-locale", "-E", "UTF8")
	if out, err := init.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := c.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	return cmd
}

// Start starts the server (again), on the same port, and waits until it
// accepts connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil {
		return nil
	}
	log, err := os.OpenFile(filepath.Join(c.dir, "server.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err != nil {
		return err
	}
	defer log.Close()
	// fsync=off loses nothing when the server process dies (the tests stop
	// it with SIGQUIT), only when the machine does; synchronous_commit
	// stays on, so a commit that returned is never lost.
	cmd := c.command("postgres", "-D", c.data(), "-p", strconv.Itoa(c.port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.cmd, c.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
			c.cmd = nil
			return fmt.Errorf("postgres exited at start: %s", b)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server at once (SIGQUIT: no checkpoint, clients cut off)
// and waits for it to exit.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
}

func (c *Cluster) remove() { os.RemoveAll(c.dir) }

// URL is the URL of database db on the cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// NewDatabase gives t a schema of its own on this cluster; see NewDatabase.
func (c *Cluster) NewDatabase(t testing.TB) string { return NewDatabase(t, c.URL("postgres")) }
