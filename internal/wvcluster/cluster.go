// Package wvcluster starts real Weaviate server processes on loopback for
// imglish's tests, benchmarks and `make cluster`: one node or several that
// form a Raft cluster, each on free ports, with its own data folder and log.
//
// It runs the weaviate-server binary that `make setup-weaviate` builds from
// the Go module proxy (Version); Find locates it. Nodes listen on 127.0.0.1
// for HTTP and Raft, and every request this package makes goes to 127.0.0.1.
// (Weaviate binds gossip, data and gRPC ports on all interfaces; nothing here
// sends traffic to another address.)
//
// A Cluster is safe for concurrent use by one test: Stop is idempotent and
// ends every process it started; Kill and Restart act on one node.
package wvcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Version is the Weaviate release imglish is built and tested against.
const Version = "v1.35.2"

// BinEnv names the environment variable that points at a weaviate-server
// binary, overriding the `make setup-weaviate` location.
const BinEnv = "IMGLISH_WEAVIATE_BIN"

// Find returns the weaviate-server binary: $IMGLISH_WEAVIATE_BIN, else
// <root>/.deps/weaviate/<Version>/weaviate-server (where `make setup-weaviate`
// puts it),
// else one on PATH. It returns ErrNoBinary when there is none.
func Find(root string) (string, error) {
	if p := os.Getenv(BinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %w", ErrNoBinary, BinEnv, p, err)
		}
		return p, nil
	}
	if root != "" {
		p := filepath.Join(root, ".deps", "weaviate", Version, "weaviate-server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("weaviate-server"); err == nil {
		return p, nil
	}
	return "", ErrNoBinary
}

// Options configures Start. Dir is required; the zero value of every other
// field is its default.
type Options struct {
	// Bin is the weaviate-server binary; "" uses Find("").
	Bin string
	// Nodes is the node count; default 1.
	Nodes int
	// Dir holds each node's data folder (nodeN/) and log (nodeN.log).
	Dir string
	// Env is added to every node's environment, after the cluster settings
	// (so it may override them), e.g. "ENABLE_MODULES=multi2vec-clip".
	Env []string
	// ReadyTimeout bounds the wait for every node to be ready; default 2 min.
	ReadyTimeout time.Duration
	// Logger receives start and stop events; nil discards them.
	Logger *slog.Logger
}

// Node is one weaviate-server process and the ports it owns.
type Node struct {
	Name                  string
	HTTPPort, GRPCPort    int
	GossipPort, DataPort  int
	RaftPort, RaftRPCPort int
	dataDir, logPath      string
	env                   []string
	bin                   string
	cluster               *Cluster
	mu                    sync.Mutex
	cmd                   *exec.Cmd
	exited                chan struct{}
}

// URL is the node's HTTP base address, e.g. http://127.0.0.1:41235.
func (n *Node) URL() string { return "http://127.0.0.1:" + strconv.Itoa(n.HTTPPort) }

// GRPCAddr is the node's gRPC address.
func (n *Node) GRPCAddr() string { return "127.0.0.1:" + strconv.Itoa(n.GRPCPort) }

// LogPath is the file the node's output goes to.
func (n *Node) LogPath() string { return n.logPath }

// DataDir is the node's PERSISTENCE_DATA_PATH (benchmarks measure its size).
func (n *Node) DataDir() string { return n.dataDir }

// PID is the process id of the running node, or 0 when it is not running
// (benchmarks read its CPU time and RSS from /proc).
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	select {
	case <-n.exited:
		return 0
	default:
		return n.cmd.Process.Pid
	}
}

// Cluster is a set of running nodes.
type Cluster struct {
	Nodes []*Node
	opts  Options
	log   *slog.Logger
}

// Start launches opts.Nodes nodes on free loopback ports and waits until every
// node is ready and sees all the others. On error every started process is
// stopped. A node that exits while starting (most often because a port it
// was given was taken in the moment between choosing it and binding it, by
// another test process) makes Start try again on fresh ports, up to three
// times; the error then carries the end of the node's log.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	var errs []error
	for attempt := 1; attempt <= 3; attempt++ {
		c, err := start(ctx, opts)
		if err == nil || !errors.Is(err, errExited) || ctx.Err() != nil {
			return c, errors.Join(append(errs, err)...)
		}
		errs = append(errs, fmt.Errorf("attempt %d: %w", attempt, err))
		// Keep the failed attempt's logs; the next one starts empty.
		for i := range max(opts.Nodes, 1) {
			name := fmt.Sprintf("node%d", i+1)
			_ = os.Rename(filepath.Join(opts.Dir, name+".log"), filepath.Join(opts.Dir, fmt.Sprintf("%s.attempt%d.log", name, attempt)))
			_ = os.RemoveAll(filepath.Join(opts.Dir, name))
		}
	}
	return nil, errors.Join(errs...)
}

func start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("wvcluster: Options.Dir is required")
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	if opts.Bin == "" {
		bin, err := Find("")
		if err != nil {
			return nil, err
		}
		opts.Bin = bin
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ports, err := freePorts(opts.Nodes)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, log: log}
	var join []string
	for i := range opts.Nodes {
		p := ports[i]
		n := &Node{
			Name: fmt.Sprintf("node%d", i+1), HTTPPort: p[0], GRPCPort: p[1], GossipPort: p[2], DataPort: p[2] + 1,
			RaftPort: p[3], RaftRPCPort: p[3] + 1, bin: opts.Bin, cluster: c,
		}
		n.dataDir = filepath.Join(opts.Dir, n.Name)
		n.logPath = filepath.Join(opts.Dir, n.Name+".log")
		join = append(join, fmt.Sprintf("%s:%d", n.Name, n.RaftPort))
		c.Nodes = append(c.Nodes, n)
	}
	for i, n := range c.Nodes {
		n.env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + opts.Dir,
			"CLUSTER_IN_LOCALHOST=true", "CLUSTER_ADVERTISE_ADDR=127.0.0.1",
			"CLUSTER_HOSTNAME=" + n.Name,
			"CLUSTER_GOSSIP_BIND_PORT=" + strconv.Itoa(n.GossipPort),
			"CLUSTER_DATA_BIND_PORT=" + strconv.Itoa(n.DataPort),
			"RAFT_PORT=" + strconv.Itoa(n.RaftPort),
			"RAFT_INTERNAL_RPC_PORT=" + strconv.Itoa(n.RaftRPCPort),
			"RAFT_BOOTSTRAP_EXPECT=" + strconv.Itoa(opts.Nodes),
			"RAFT_JOIN=" + strings.Join(join, ","),
			"GRPC_PORT=" + strconv.Itoa(n.GRPCPort),
			"PERSISTENCE_DATA_PATH=" + n.dataDir,
			"AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true",
			"DEFAULT_VECTORIZER_MODULE=none",
			"DISABLE_TELEMETRY=true",
			// Several nodes on one host would fight over the default 6060.
			"GO_PROFILING_DISABLE=true",
			"LOG_LEVEL=warning",
		}
		if i > 0 {
			n.env = append(n.env, fmt.Sprintf("CLUSTER_JOIN=127.0.0.1:%d", c.Nodes[0].GossipPort))
		}
		n.env = append(n.env, opts.Env...)
	}
	wctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	for i, n := range c.Nodes {
		if err := n.start(); err != nil {
			return nil, errors.Join(err, c.Stop())
		}
		log.Info("weaviate node started", "node", n.Name, "url", n.URL(), "log", n.logPath)
		if i == 0 && len(c.Nodes) > 1 {
			// The others join through node1's gossip port; one that finds it
			// closed gives up on the cluster for good.
			if err := n.waitGossip(wctx); err != nil {
				return nil, errors.Join(err, c.Stop())
			}
		}
	}
	if err := c.WaitReady(wctx); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// start launches the node's process (its ports and data folder are kept
// across restarts).
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.exited:
		default:
			return fmt.Errorf("wvcluster: %s is already running", n.Name)
		}
	}
	if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	lf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	cmd := exec.Command(n.bin, "--host", "127.0.0.1", "--port", strconv.Itoa(n.HTTPPort), "--scheme", "http")
	cmd.Env = n.env
	cmd.Dir = n.dataDir
	cmd.Stdout, cmd.Stderr = lf, lf
	// Its own process group, so a test's Ctrl-C reaches it only through Stop.
	// Pdeathsig fires when the OS thread that started it exits, not the
	// process: fine while nothing here locks threads, and it only backs up
	// Stop when this process dies without calling it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("start %s: %w", n.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		lf.Close()
		close(exited)
	}()
	n.cmd, n.exited = cmd, exited
	return nil
}

// Running reports whether the node's process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Kill ends the node with SIGKILL (a crash: nothing is flushed) and waits
// for the process to exit.
func (n *Node) Kill() error { return n.signal(syscall.SIGKILL, 0) }

// stop sends SIGTERM and, after grace, SIGKILL.
func (n *Node) stop(grace time.Duration) error { return n.signal(syscall.SIGTERM, grace) }

func (n *Node) signal(sig syscall.Signal, grace time.Duration) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", n.Name, err)
	}
	if sig != syscall.SIGKILL {
		select {
		case <-exited:
			return nil
		case <-time.After(grace):
			_ = cmd.Process.Kill()
		}
	}
	<-exited
	return nil
}

// Restart starts a stopped (or killed) node again on the same ports and data
// folder, joining the gossip of the cluster's nodes still running, and waits
// until it is ready. node1 started with no node to join (the others joined
// through it): restarted the same way it would form a gossip ring of its own
// and never see the others again; and nodes 2..N must not need node1 up.
func (n *Node) Restart(ctx context.Context) error {
	var join []string
	for _, o := range n.cluster.Nodes {
		if o != n && o.Running() {
			join = append(join, "127.0.0.1:"+strconv.Itoa(o.GossipPort))
		}
	}
	n.mu.Lock()
	n.env = slices.DeleteFunc(n.env, func(kv string) bool { return strings.HasPrefix(kv, "CLUSTER_JOIN=") })
	if len(join) > 0 {
		// Weaviate joins through any one of the listed addresses.
		n.env = append(n.env, "CLUSTER_JOIN="+strings.Join(join, ","))
	}
	n.mu.Unlock()
	if err := n.start(); err != nil {
		return err
	}
	return n.waitReady(ctx)
}

// Stop ends every running node (SIGTERM, then SIGKILL after 20 s). It is
// idempotent, and stops a node restarted after an earlier Stop too.
func (c *Cluster) Stop() error {
	var (
		errs []error
		wg   sync.WaitGroup
		mu   sync.Mutex
	)
	for _, n := range c.Nodes {
		wg.Go(func() {
			if err := n.stop(20 * time.Second); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	c.log.Info("weaviate cluster stopped", "nodes", len(c.Nodes))
	return errors.Join(errs...)
}

// URLs are the HTTP base addresses of every node.
func (c *Cluster) URLs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.URL()
	}
	return out
}

// GRPCAddrs are the nodes' gRPC addresses, in the order of URLs.
func (c *Cluster) GRPCAddrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.GRPCAddr()
	}
	return out
}

// WaitReady waits until every running node answers /v1/.well-known/ready and
// lists every node of the cluster as HEALTHY.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		if err := n.waitReady(ctx); err != nil {
			return err
		}
	}
	want := 0
	for _, n := range c.Nodes {
		if n.Running() {
			want++
		}
	}
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		if err := poll(ctx, func() error {
			st, err := NodeStatus(ctx, n.URL())
			if err != nil {
				return err
			}
			healthy := 0
			for _, s := range st {
				if s.Status == "HEALTHY" {
					healthy++
				}
			}
			if healthy < want {
				return fmt.Errorf("%s sees %d healthy nodes of %d", n.Name, healthy, want)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("%w: %w", ErrNotReady, err)
		}
	}
	return nil
}

func (n *Node) waitReady(ctx context.Context) error {
	err := poll(ctx, func() error {
		n.mu.Lock()
		exited := n.exited
		n.mu.Unlock()
		select {
		case <-exited:
			return fmt.Errorf("%w: %w: %s exited; its log ends: %s", errStop, errExited, n.Name, logTail(n.logPath, 1500))
		default:
		}
		return getOK(ctx, n.URL()+"/v1/.well-known/ready")
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %w (log %s)", ErrNotReady, n.Name, err, n.logPath)
	}
	return nil
}

// waitGossip waits until the node's gossip port takes connections.
func (n *Node) waitGossip(ctx context.Context) error {
	addr := "127.0.0.1:" + strconv.Itoa(n.GossipPort)
	err := poll(ctx, func() error {
		if !n.Running() {
			return fmt.Errorf("%w: %w: %s exited; its log ends: %s", errStop, errExited, n.Name, logTail(n.logPath, 1500))
		}
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	})
	if err != nil {
		return fmt.Errorf("%w: %s gossip %s: %w", ErrNotReady, n.Name, addr, err)
	}
	return nil
}

var (
	errStop   = errors.New("stop polling")
	errExited = errors.New("node exited")
)

// logTail returns the last n bytes of a log file (for errors).
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// poll runs f every 100 ms until it succeeds, returns errStop, or ctx ends.
func poll(ctx context.Context, f func() error) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		err := f()
		if err == nil || errors.Is(err, errStop) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

var client = &http.Client{Timeout: 5 * time.Second}

func getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return nil
}

// NodeState is one entry of Weaviate's GET /v1/nodes.
type NodeState struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Version string `json:"version"`
}

// NodeStatus asks the node at base for the cluster's node list.
func NodeStatus(ctx context.Context, base string) ([]NodeState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/nodes", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Nodes []NodeState `json:"nodes"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/v1/nodes: status %d", base, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode %s/v1/nodes: %w", base, err)
	}
	return out.Nodes, nil
}

// freePorts reserves, per node, an HTTP port, a gRPC port and two pairs of
// consecutive ports (gossip+data, Raft+Raft RPC), all free on 127.0.0.1 and
// on every interface (Weaviate binds some ports on all of them). The
// listeners are held until every port is chosen so no two collide; a port can
// still be taken by another process between here and the node's start, which
// Start reports as a node that did not become ready.
func freePorts(nodes int) ([][4]int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	// Ports come from below the kernel's ephemeral range when it leaves
	// room: a port from that range can be taken, while a node is down, as
	// the local end of some client connection, and a restarted node must
	// bind its own ports again (seen: a restarted node3's Raft RPC port
	// "address already in use").
	low, high := fixedPortRange()
	one := func() (int, error) {
		for range 200 {
			if high <= low {
				break
			}
			p := low + rand.IntN(high-low)
			if l, err := net.Listen("tcp", ":"+strconv.Itoa(p)); err == nil {
				held = append(held, l)
				return p, nil
			}
		}
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return 0, fmt.Errorf("reserve a port: %w", err)
		}
		held = append(held, l)
		return l.Addr().(*net.TCPAddr).Port, nil
	}
	pair := func() (int, error) {
		for range 100 {
			p, err := one()
			if err != nil {
				return 0, err
			}
			if p >= 65535 || p+1 == high {
				continue
			}
			l, err := net.Listen("tcp", ":"+strconv.Itoa(p+1))
			if err != nil {
				continue
			}
			held = append(held, l)
			return p, nil
		}
		return 0, errors.New("reserve two consecutive ports: none found in 100 tries")
	}
	out := make([][4]int, nodes)
	for i := range out {
		var err error
		if out[i][0], err = one(); err != nil {
			return nil, err
		}
		if out[i][1], err = one(); err != nil {
			return nil, err
		}
		if out[i][2], err = pair(); err != nil {
			return nil, err
		}
		if out[i][3], err = pair(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fixedPortRange is the range [low, high) the cluster's ports are drawn
// from: from 10000 up to the start of the kernel's ephemeral port range
// (net.ipv4.ip_local_port_range), or an empty range (ports from the
// kernel, ephemeral) when that range cannot be read or leaves no room.
func fixedPortRange() (low, high int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 0, 0
	}
	start, err := strconv.Atoi(f[0])
	if err != nil || start <= 11000 {
		return 0, 0
	}
	return 10000, start
}
