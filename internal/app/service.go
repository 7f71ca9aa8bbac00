package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"

	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

// DefaultShutdownGrace is how long `run` lets the cycle in flight finish after
// SIGTERM before cancelling it; it fits Kubernetes' default 30 s grace period.
const DefaultShutdownGrace = 20 * time.Second

// ReadyStaleFloor is the shortest time without a completed cycle after which
// /readyz reports the service as stuck; see Service.Handler.
const ReadyStaleFloor = 5 * time.Minute

// Service is the long-running mode: cycles on the config's schedule (the
// first one at start), the HTTP endpoints, and config reloads.
type Service struct {
	Logger *slog.Logger
	Stdout io.Writer
	// Registry receives the metrics; nil makes a fresh one.
	Registry *prometheus.Registry
	// Load re-reads the config on reload.
	Load func() (*config.Config, error)
	// ShutdownGrace bounds the wait for the cycle in flight; 0 is the default.
	ShutdownGrace time.Duration
	// Poller overrides the upstream client, for tests.
	Poller Poller
	// Now overrides the clock of cycles, for tests.
	Now func() time.Time
	// Store overrides where the state lives; nil is OpenStore's choice for
	// the config run starts with (a change of state_file or
	// state_database takes a restart).
	Store state.Store

	// OnListen, if set, is called with the HTTP server's address once it
	// listens (useful with listen: 127.0.0.1:0).
	OnListen func(addr string)

	cycle   atomic.Pointer[Cycle]
	units   Units // the gateways' quota_per_unit, kept across cycles and reloads
	metrics *Metrics
	stop    <-chan struct{} // closed when shutdown begins

	mu       sync.Mutex
	sched    cron.Schedule // the running schedule, for readiness
	ready    bool          // a cycle has completed
	lastDone time.Time     // when the last cycle ended, completed or failed
}

// reloaded is the outcome of a reload, prepared off the service loop.
type reloaded struct {
	cfg  *config.Config
	nots map[string]notifiers.Notifier
	err  error
}

// Run serves until ctx is done, then stops scheduling, lets the cycle in
// flight finish within the grace period (cancelling it after), and returns
// nil. Each value on reload re-reads the config; an invalid one is logged
// and the old config kept. Run returns an error if it cannot start, or if
// the HTTP server fails while it runs.
func (s *Service) Run(ctx context.Context, cfg *config.Config, reload <-chan struct{}) error {
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
		s.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s.metrics = NewMetrics(s.Registry)
	s.stop = ctx.Done()
	transport := NewTransport(cfg.Concurrency)
	defer transport.CloseIdleConnections()
	nots, err := BuildNotifiers(cfg, s.Stdout, s.Logger, transport)
	if err != nil {
		return err
	}
	if s.Store == nil {
		if s.Store, err = OpenStore(ctx, cfg, s.Logger); err != nil {
			return err
		}
	}
	s.install(cfg, nots, transport)

	srv, err := s.listen(cfg.Listen)
	if err != nil {
		return err
	}

	// Cycles get their own context: cancelled only when the grace period
	// after shutdown runs out, so a cycle in flight can finish and save.
	cycleCtx, cancelCycles := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCycles()
	job := cron.NewChain(cron.SkipIfStillRunning(cronLogger{s.Logger})).Then(cron.FuncJob(func() {
		if ctx.Err() != nil {
			return
		}
		s.runCycle(cycleCtx)
	}))
	sch := &scheduler{cron: cron.New(cron.WithLogger(cronLogger{s.Logger})), job: job}
	sch.set(s, cfg.Cron)
	sch.cron.Start()
	// The first cycle runs at start, through the same chain so a scheduled
	// run cannot overlap it; cron tracks only the runs it starts itself.
	var first sync.WaitGroup
	first.Go(job.Run)
	s.Logger.Info("started", "schedule", cfg.Schedule, "accounts", len(cfg.Accounts), "state", s.Store.String())

	serveErr := s.loop(ctx, cfg, reload, transport, sch, srv.failed())

	s.Logger.Info("shutting down")
	s.drain(sch.cron.Stop(), &first, cancelCycles)
	if err := srv.shutdown(serveErr == nil); err != nil {
		s.Logger.Warn("HTTP server shutdown", "error", err)
	}
	s.Logger.Info("stopped")
	return serveErr
}

// scheduler is the cron instance and the entry of the cycle job.
type scheduler struct {
	cron  *cron.Cron
	job   cron.Job
	entry cron.EntryID
	has   bool
}

// set runs the job on sched from now on, replacing the previous schedule.
func (sch *scheduler) set(s *Service, sched cron.Schedule) {
	if sch.has {
		sch.cron.Remove(sch.entry)
	}
	sch.entry, sch.has = sch.cron.Schedule(sched, sch.job), true
	s.setSchedule(sched)
}

// loop answers reload requests until ctx is done or the HTTP server fails,
// whose error it returns.
//
// A reload reads files and builds notifiers off this loop, so one that
// cannot finish (a hung mount) never keeps the loop from scheduling,
// answering SIGHUP or shutting down. One reload runs at a time; a request
// while one is in flight is logged and dropped.
func (s *Service) loop(ctx context.Context, cfg *config.Config, reload <-chan struct{}, transport http.RoundTripper, sch *scheduler, serveErr <-chan error) error {
	results := make(chan reloaded, 1)
	reloading := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			s.Logger.Error("HTTP server failed; shutting down", "error", err)
			return fmt.Errorf("serve: %w", err)
		case <-reload:
			if reloading {
				s.Logger.Warn("reload requested while the previous one is still running; ignored")
				continue
			}
			reloading = true
			go func() {
				var r reloaded
				r.cfg, r.err = s.Load()
				if r.err == nil {
					r.nots, r.err = BuildNotifiers(r.cfg, s.Stdout, s.Logger, transport)
				}
				results <- r
			}()
		case r := <-results:
			reloading = false
			if r.err != nil {
				s.Logger.Error("reload failed; keeping the running config", "error", r.err)
				continue
			}
			cfg = s.apply(cfg, r, transport, sch)
		}
	}
}

// apply installs a reloaded config in place of cfg and returns it.
func (s *Service) apply(cfg *config.Config, r reloaded, transport http.RoundTripper, sch *scheduler) *config.Config {
	next := r.cfg
	if next.StateFile != cfg.StateFile {
		// Another state file would abandon the owed outbox and re-send
		// every firing alert as new: keep the old one until a restart.
		s.Logger.Warn("state_file changed; restart to apply it", "state_file", cfg.StateFile, "ignored", next.StateFile)
		kept := *next
		kept.StateFile = cfg.StateFile
		next = &kept
	}
	s.install(next, r.nots, transport)
	if next.Listen != cfg.Listen {
		s.Logger.Warn("listen changed; restart to apply it", "listen", cfg.Listen)
	}
	if next.StateFile != cfg.StateFile || next.StateDatabase != cfg.StateDatabase {
		s.Logger.Warn("state_file or state_database changed; restart to apply it", "state", s.Store.String())
	}
	if next.Schedule != cfg.Schedule {
		sch.set(s, next.Cron)
	}
	s.Logger.Info("config reloaded", "schedule", next.Schedule, "accounts", len(next.Accounts))
	return next
}

// drain waits for the cycles in flight (cron's, stopped, and the first)
// for the grace period, then cancels them and waits for them to end.
func (s *Service) drain(stopped context.Context, first *sync.WaitGroup, cancelCycles context.CancelFunc) {
	grace := s.ShutdownGrace
	if grace <= 0 {
		grace = DefaultShutdownGrace
	}
	finished := make(chan struct{})
	go func() {
		<-stopped.Done()
		first.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(grace):
		s.Logger.Warn("cycle still running after the grace period; cancelling it", "grace", grace)
		cancelCycles()
		<-finished
	}
}

// httpServer is the HTTP endpoints' server; the nil *httpServer (no listen
// address) serves nothing.
type httpServer struct {
	srv  *http.Server
	done chan error // Serve's result
}

// listen starts serving s.Handler on addr, if addr is set.
func (s *Service) listen(addr string) (*httpServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	h := &httpServer{srv: &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}, done: make(chan error, 1)}
	go func() { h.done <- h.srv.Serve(ln) }()
	s.Logger.Info("serving", "addr", ln.Addr().String())
	if s.OnListen != nil {
		s.OnListen(ln.Addr().String())
	}
	return h, nil
}

// failed delivers the error of a server that stopped serving on its own;
// nil for no server, which never fails.
func (h *httpServer) failed() <-chan error {
	if h == nil {
		return nil
	}
	return h.done
}

// shutdown stops the server, giving open requests two seconds, and returns
// what went wrong. serving is false when Serve already failed and failed's
// value was taken.
func (h *httpServer) shutdown(serving bool) error {
	if h == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := h.srv.Shutdown(ctx)
	if serving {
		if serr := <-h.done; err == nil && !errors.Is(serr, http.ErrServerClosed) {
			err = serr
		}
	}
	return err
}

// install makes cfg, with its notifiers, the config of the next cycle.
func (s *Service) install(cfg *config.Config, nots map[string]notifiers.Notifier, transport http.RoundTripper) {
	p := s.Poller
	if p == nil {
		p = NewPoller(transport)
	}
	var names, accounts []string
	for _, n := range cfg.Notifiers {
		names = append(names, n.Name)
	}
	for _, a := range cfg.Accounts {
		accounts = append(accounts, a.Name)
	}
	s.metrics.Prepare(names, accounts)
	gw := NewGateways(cfg)
	gw.Now = s.Now
	s.cycle.Store(&Cycle{Config: cfg, Poller: p, Notifiers: nots, Logger: s.Logger, Metrics: s.metrics, Now: s.Now, Stop: s.stop,
		Units: &s.units, Gateways: gw, Store: s.Store, TryLock: shared(s.Store)})
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) setSchedule(sched cron.Schedule) {
	s.mu.Lock()
	s.sched = sched
	s.mu.Unlock()
}

func (s *Service) runCycle(ctx context.Context) {
	c := s.cycle.Load()
	rep, err := c.Run(ctx)
	// With a shared database, a replica that finds the lock held leaves the
	// cycle to the replica holding it: that is the loop working, so it
	// counts as a completed cycle for readiness, and is no failure.
	skipped := c.TryLock && errors.Is(err, state.ErrLocked)
	// A cycle that ended, even in failure (the state lock held by another
	// run, say), shows the loop is not stuck.
	s.mu.Lock()
	s.lastDone = s.now()
	first := !s.ready && (err == nil || skipped)
	s.ready = s.ready || err == nil || skipped
	s.mu.Unlock()
	if first {
		s.Logger.Info("ready: the first cycle completed or was left to the replica holding the state lock")
	}
	if skipped {
		s.metrics.skip("locked")
		s.metrics.skippedCycle()
		s.Logger.Debug("cycle skipped: another replica holds the state lock", "state", c.store().String())
		return
	}
	if err != nil {
		s.Logger.Error("cycle failed", "error", err)
		return
	}
	if err := rep.Err(); err != nil {
		s.Logger.Warn("cycle finished with failures", "error", err)
	}
}

// staleAt is when the service counts as stuck if no cycle completes after
// one that ended at done: the third scheduled run after done, but no sooner
// than ReadyStaleFloor after it (a cycle may wait lock_timeout for the state
// lock and retry slow peers, so a tight schedule needs slack).
func staleAt(sched cron.Schedule, done time.Time) time.Time {
	at := done
	for range 3 {
		at = sched.Next(at)
	}
	return later(at, done.Add(ReadyStaleFloor))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// readiness reports whether the service is ready, and why not.
func (s *Service) readiness() (bool, string) {
	s.mu.Lock()
	ready, done, sched := s.ready, s.lastDone, s.sched
	s.mu.Unlock()
	if !ready {
		return false, "waiting for the first completed cycle"
	}
	if sched != nil && s.now().After(staleAt(sched, done)) {
		return false, fmt.Sprintf("no cycle completed since %s: three scheduled runs missed, the cycle in flight may be stuck", done.UTC().Format(time.RFC3339))
	}
	return true, ""
}

// Handler serves /healthz, /readyz and /metrics. /readyz is 200 once a
// cycle has completed, and 503 again when no cycle has ended (completed or
// failed) since the third scheduled run after the last one, and for at
// least ReadyStaleFloor: a cycle that hangs, with later runs skipped behind
// it, makes the pod unready.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ok, why := s.readiness(); !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}))
	return mux
}

// cronLogger adapts slog to cron.Logger, keeping cron's chatter at debug.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	if errors.Is(err, context.Canceled) {
		return
	}
	c.l.Error("cron: "+msg, append(kv, "error", err)...)
}
